// The dashboard's diagram (diagram.js draws it): each user task with a time is coloured on a heat scale
// (heat-1 quick .. heat-5 slowest of the service) and labelled with its average time.
window.shubbakDiagram("heat-diagram", (viewer, box) => {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const overlays = viewer.get("overlays");
  const heat = JSON.parse(box.dataset.heat || "{}");
  const slowest = Math.max(0, ...Object.values(heat).map((step) => step.seconds));
  for (const [id, step] of Object.entries(heat)) {
    if (!registry.get(id)) continue;
    const level = slowest > 0 ? Math.max(1, Math.ceil((5 * step.seconds) / slowest)) : 1;
    canvas.addMarker(id, "heat-" + level);
    const label = document.createElement("span");
    label.className = "heat-label";
    label.dataset.element = id;
    label.dataset.seconds = String(step.seconds);
    label.textContent = step.label;
    overlays.add(id, { position: { bottom: 14, left: 0 }, html: label });
  }
});
