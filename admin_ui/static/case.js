// The case's diagram: bpmn-js draws the version's BPMN and marks the steps done and the current ones.
(async () => {
  const box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) return;
  const viewer = new window.BpmnJS({ container: box });
  try {
    const response = await fetch(box.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    await viewer.importXML(await response.text());
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    const current = new Set(box.dataset.current.split(" ").filter(Boolean));
    for (const id of box.dataset.done.split(" ").filter(Boolean)) {
      if (!current.has(id) && registry.get(id)) canvas.addMarker(id, "done");
    }
    for (const id of current) {
      if (registry.get(id)) canvas.addMarker(id, "current");
    }
    canvas.zoom("fit-viewport", "auto");
    box.dataset.ready = "true";
  } catch (error) {
    box.textContent = box.dataset.failed;
    box.dataset.ready = "failed";
  }
})();
