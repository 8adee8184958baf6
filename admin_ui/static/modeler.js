// The analysts' modeler: bpmn-js edits the diagram, dmn-js the decision tables, a textarea the forms and
// settings (with the form drawn as the intake page draws it). Validate, save and publish call the server;
// each problem is listed and marked on its element.
(async () => {
  const root = document.getElementById("modeler");
  if (!root || !window.BpmnJS) return;
  const code = root.dataset.code;
  const base = `/services/${encodeURIComponent(code)}`;
  const $ = (id) => document.getElementById(id);
  const outcome = $("outcome");
  // baseline: each diagram as the editor exports it right after opening; an export equal to it means nothing
  // was changed, and the file keeps its bytes (the same files give the same version).
  const state = { files: {}, revision: 0, bpmn: null, dmn: null, text: null, baseline: {} };

  const bpmn = new window.BpmnJS({ container: $("bpmn-canvas") });
  const dmn = window.DmnJS ? new window.DmnJS({ container: $("dmn-canvas") }) : null;
  window.shubbakModeler = bpmn; // for tests and the browser's console (window.shubbakDmn: the tables)

  const say = (text, kind) => { outcome.textContent = text; outcome.className = kind ? `flash ${kind}` : ""; };

  async function call(path, body) {
    const response = await fetch(base + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    if ((response.headers.get("content-type") || "").includes("application/json")) data = await response.json();
    else if (!response.ok) {
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const words = doc.querySelector("main p") || doc.querySelector("main");
      data = { message: `${response.status}: ${(words && words.textContent.trim()) || response.statusText}`, problems: [] };
    }
    return { ok: response.ok, status: response.status, data };
  }

  const names = (ending) => Object.keys(state.files).filter((n) => n.toLowerCase().endsWith(ending)).sort();
  function fill(select, list) {
    select.replaceChildren(...list.map((n) => { const o = document.createElement("option"); o.value = o.textContent = n; return o; }));
  }

  // Keep what the editors hold in state.files; an untouched diagram keeps its bytes (same files, same version).
  async function exported(editor, name) {
    const { xml } = await editor.saveXML({ format: true });
    if (xml !== state.baseline[name]) state.files[name] = xml;
  }

  async function collect() {
    if (state.bpmn && state.baseline[state.bpmn] !== undefined) await exported(bpmn, state.bpmn);
    if (dmn && state.dmn && state.baseline[state.dmn] !== undefined) await exported(dmn, state.dmn);
    if (state.text !== null) state.files[state.text] = $("text-content").value;
  }

  async function showBpmn(name) {
    await collect();
    state.bpmn = name;
    try {
      await bpmn.importXML(state.files[name]);
      state.baseline[name] = (await bpmn.saveXML({ format: true })).xml;
      bpmn.get("canvas").zoom("fit-viewport", "auto");
      root.dataset.bpmnReady = "true";
    } catch (error) {
      say(root.dataset.failed + error.message, "error");
    }
  }

  async function showDmn(name) {
    if (!dmn) return;
    await collect();
    state.dmn = name;
    try {
      await dmn.importXML(state.files[name]);
      state.baseline[name] = (await dmn.saveXML({ format: true })).xml;
      const table = dmn.getViews().find((v) => v.type === "decisionTable");
      if (table) await dmn.open(table);
      window.shubbakDmn = dmn;
      root.dataset.dmnReady = "true";
    } catch (error) {
      $("dmn-canvas").textContent = root.dataset.failed + error.message;
    }
  }

  let previewTimer = null;
  async function preview() {
    const box = $("form-preview");
    const name = state.text || "";
    if (!name.endsWith(".json") || name === "paths.json") { box.replaceChildren(); return; }
    let schema;
    try { schema = JSON.parse($("text-content").value); } catch (error) { box.textContent = root.dataset.noPreview; return; }
    const response = await fetch(`${base}/form-preview`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify({ schema }),
    });
    if (!response.ok) { box.textContent = root.dataset.noPreview; return; }
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    box.replaceChildren(...doc.body.childNodes);
    box.dataset.ready = String(Date.now());
  }

  async function showText(name) {
    await collect();
    state.text = name;
    $("text-content").value = state.files[name] || "";
    await preview();
  }

  // Problems: a list, and a red mark with a badge on each element the diagram shows.
  let marked = [];
  function showProblems(problems) {
    const canvas = bpmn.get("canvas");
    const overlays = bpmn.get("overlays");
    const registry = bpmn.get("elementRegistry");
    for (const id of marked) if (registry.get(id)) canvas.removeMarker(id, "has-problem");
    overlays.remove({ type: "problem" });
    marked = [];
    const list = $("problems");
    list.replaceChildren();
    $("problems-box").hidden = !problems.length;
    problems.forEach((p, index) => {
      const item = document.createElement("li");
      item.dataset.elementId = p.element_id || "";
      const where = document.createElement("span");
      where.className = "where";
      const label = [p.kind, p.element_name ? `“${p.element_name}”` : "", p.element_id ? `(${p.element_id})` : "",
        p.file ? `— ${p.file}` : ""].filter(Boolean).join(" ");
      where.textContent = `${root.dataset.where}: ${label || "—"}`;
      const reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = ` ${p.reason}`;
      item.append(where, reason);
      if (p.remedy) {
        const fix = document.createElement("span");
        fix.className = "fix";
        fix.textContent = `${root.dataset.fix}: ${p.remedy}`;
        item.append(fix);
      }
      list.append(item);
      const element = p.element_id && registry.get(p.element_id);
      if (element) {
        canvas.addMarker(p.element_id, "has-problem");
        marked.push(p.element_id);
        const badge = document.createElement("div");
        badge.className = "problem-badge";
        badge.textContent = String(index + 1);
        badge.title = p.reason;
        overlays.add(p.element_id, "problem", { position: { top: -10, left: -10 }, html: badge });
        item.addEventListener("click", () => {
          bpmn.get("selection").select(element);
          canvas.scrollToElement(element);
        });
      }
    });
  }

  async function busy(button, work) {
    for (const b of root.querySelectorAll(".toolbar button")) b.disabled = true;
    say(root.dataset.busy);
    try { await work(); } finally { for (const b of root.querySelectorAll(".toolbar button")) b.disabled = false; }
  }

  $("validate").addEventListener("click", () => busy($("validate"), async () => {
    await collect();
    const { ok, data } = await call("/draft/validate", { files: state.files });
    showProblems(data.problems || []);
    say(data.message, ok && !(data.problems || []).length ? "success" : "error");
  }));

  $("save-draft").addEventListener("click", () => busy($("save-draft"), async () => {
    await collect();
    const { ok, data } = await call("/draft", { files: state.files, revision: state.revision });
    if (ok) { state.revision = data.revision; state.saved = true; state.savedCopy = JSON.stringify(state.files); }
    say(data.message, ok ? "success" : "error");
    if (ok) $("draft-state").textContent = data.message;
  }));

  $("publish").addEventListener("click", () => busy($("publish"), async () => {
    await collect();
    if (state.savedCopy !== JSON.stringify(state.files)) { say(root.dataset.unsaved, "error"); return; }
    const { ok, data } = await call("/draft/publish", {});
    showProblems(data.problems || []);
    say(data.message, ok ? "success" : "error");
    if (ok && data.migrate) {
      const link = document.createElement("a");
      link.href = data.migrate;
      link.id = "to-migration";
      link.className = "button";
      link.textContent = root.dataset.migrate;
      outcome.append(" ", link);
    }
  }));

  $("bpmn-file").addEventListener("change", (e) => showBpmn(e.target.value));
  $("dmn-file").addEventListener("change", (e) => showDmn(e.target.value));
  $("text-file").addEventListener("change", (e) => showText(e.target.value));
  $("text-content").addEventListener("input", () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 300);
  });

  const response = await fetch(`${base}/draft.json`, { credentials: "same-origin" });
  const draft = await response.json();
  state.files = draft.files;
  state.revision = draft.revision;
  state.savedCopy = draft.revision > 0 ? JSON.stringify(state.files) : null;
  const diagrams = names(".bpmn");
  diagrams.sort((x, y) => Number(state.files[y].includes("BPMNShape")) - Number(state.files[x].includes("BPMNShape")));
  fill($("bpmn-file"), diagrams);
  fill($("dmn-file"), names(".dmn"));
  const texts = [...names(".json").filter((n) => n !== "paths.json"), ...names(".toml"), ...names("paths.json")];
  fill($("text-file"), texts);
  if (diagrams.length) await showBpmn(diagrams[0]);
  if (names(".dmn").length) await showDmn(names(".dmn")[0]);
  else { $("dmn-none").hidden = false; $("dmn-file").disabled = true; $("dmn-canvas").hidden = true; }
  if (texts.length) await showText(texts[0]);
  root.dataset.ready = "true";
})();
