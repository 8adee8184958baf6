// The case's diagram (diagram.js draws it): the steps done, the current ones and the events waited at are marked,
// in every pool of a collaboration.
window.shubbakDiagram("diagram", (viewer, box) => {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const current = new Set(box.dataset.current.split(" ").filter(Boolean));
  for (const id of box.dataset.done.split(" ").filter(Boolean)) {
    if (!current.has(id) && registry.get(id)) canvas.addMarker(id, "done");
  }
  for (const id of current) {
    if (registry.get(id)) canvas.addMarker(id, "current");
  }
  for (const id of (box.dataset.waiting || "").split(" ").filter(Boolean)) {
    if (registry.get(id)) canvas.addMarker(id, "waiting");
  }
});
