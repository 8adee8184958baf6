// Draw a BPMN diagram with the vendored bpmn-js viewer, for every page that shows one (case, history,
// dashboard): fetch the XML named by the box's data-src, let the page mark its elements, fit it to the box.
// The box's data-ready says "true" or "failed" (its data-failed text is then shown instead of the diagram).
window.shubbakDiagram = async (boxId, mark) => {
  const box = document.getElementById(boxId);
  if (!box || !window.BpmnJS) return;
  const viewer = new window.BpmnJS({ container: box });
  try {
    const response = await fetch(box.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    await viewer.importXML(await response.text());
    mark(viewer, box);
    viewer.get("canvas").zoom("fit-viewport", "auto");
    box.dataset.ready = "true";
  } catch (error) {
    box.textContent = box.dataset.failed;
    box.dataset.ready = "failed";
  }
};
