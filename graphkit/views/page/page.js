// The graph page: reads the embedded data and draws a focused part of the target
// graph with Cytoscape.js (dagre layered layout). Large graphs are never drawn
// whole: the page starts from an overview by folder, and focusing a target draws
// its neighbourhood only.
(function () {
  "use strict";

  const FORMAT = 2;
  const MAX_NODES = 300; // more than this in one drawing is a hairball, and slow to lay out

  const data = JSON.parse(document.getElementById("graph-data").textContent);
  if (data.format !== FORMAT) {
    document.getElementById("status").textContent =
      "This page was written by another graphkit version (data format " + data.format + ").";
    return;
  }
  cytoscape.use(cytoscapeDagre);

  const byId = new Map(data.targets.map((t) => [t.id, t]));
  const deps = new Map(); // id -> edges out (to what it depends on)
  const dependents = new Map(); // id -> edges in
  for (const t of data.targets) {
    deps.set(t.id, []);
    dependents.set(t.id, []);
  }
  for (const e of data.edges) {
    deps.get(e.from).push(e);
    dependents.get(e.to).push(e);
  }
  const affectedIds = data.targets.filter((t) => t.reason !== null).map((t) => t.id);

  const $ = (id) => document.getElementById(id);
  const state = { selected: null, group: false, marked: new Set(), markedEdges: new Set() };

  const cy = cytoscape({
    container: $("cy"),
    elements: [],
    minZoom: 0.05,
    maxZoom: 3,
    style: [
      {
        selector: "node",
        style: {
          label: "data(short)",
          shape: "round-rectangle",
          width: "data(w)",
          height: 22,
          "font-size": 11,
          "text-valign": "center",
          "background-color": "#eaeef2",
          "border-width": 1,
          "border-color": "#8c959f",
        },
      },
      { selector: "node.seed", style: { "background-color": "#e5534b", color: "#fff" } },
      { selector: "node.affected", style: { "background-color": "#f5b971" } },
      {
        selector: "node.folder",
        style: {
          shape: "round-rectangle",
          "background-color": "#ddf4ff",
          "border-color": "#54aeff",
          height: 30,
          "font-size": 12,
        },
      },
      { selector: "node.folder.affected", style: { "background-color": "#f5b971" } },
      {
        selector: ":parent",
        style: {
          "background-opacity": 0.05,
          "border-style": "dashed",
          "text-valign": "top",
          "text-halign": "center",
          label: "data(short)",
        },
      },
      { selector: "node.selected", style: { "border-width": 4, "border-color": "#0969da" } },
      { selector: "node.marked", style: { "border-width": 3, "border-color": "#cf222e" } },
      {
        selector: "edge",
        style: {
          width: 1.5,
          "curve-style": "bezier",
          "target-arrow-shape": "triangle",
          "arrow-scale": 0.8,
          "line-color": "#8c959f",
          "target-arrow-color": "#8c959f",
        },
      },
      {
        selector: "edge.import",
        style: { "line-style": "dashed", "line-color": "#2f81f7", "target-arrow-color": "#2f81f7" },
      },
      {
        selector: "edge.test",
        style: { "line-style": "dotted", "line-color": "#8250df", "target-arrow-color": "#8250df" },
      },
      { selector: "edge.cycle", style: { "line-color": "#cf222e", "target-arrow-color": "#cf222e" } },
      { selector: "edge.marked", style: { width: 4, "line-color": "#cf222e", "target-arrow-color": "#cf222e" } },
      { selector: "edge.folder-edge", style: { label: "data(count)", "font-size": 10, width: "data(weight)" } },
    ],
  });

  // --- helpers -------------------------------------------------------------

  function short(id) {
    const t = byId.get(id);
    if (t && t.names.length) return t.names[0];
    // //a/b:b is written //a/b, as on the command line
    const colon = id.lastIndexOf(":");
    const pkg = id.slice(0, colon);
    return pkg.endsWith("/" + id.slice(colon + 1)) ? pkg : id;
  }

  // Node width from the label's length: cheaper than measuring text, and close enough
  // for the 11px font the nodes use.
  function textWidth(text) {
    return 14 + text.length * 6.2;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function shellWord(text) {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function revisionArgs() {
    let args = "";
    if (data.base) args += " --base " + shellWord(data.base);
    if (data.head && data.head !== "WORKTREE") args += " --head " + shellWord(data.head);
    return args;
  }

  function edgeClass(e) {
    return e.kind + (e.cycle ? " cycle" : "");
  }

  function folderOf(t) {
    const pkg = t.id.slice(2, t.id.lastIndexOf(":"));
    return pkg === "" ? "(root)" : pkg;
  }

  // --- drawing --------------------------------------------------------------

  function setReady(ready) {
    document.body.dataset.ready = ready ? "true" : "false";
  }

  function runLayout() {
    setReady(false);
    const layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 60, animate: false });
    layout.one("layoutstop", () => {
      cy.fit(undefined, 30);
      setReady(true);
    });
    layout.run();
  }

  // Draw exactly these targets and the edges among them.
  function draw(ids) {
    const keep = new Set(ids);
    const elements = [];
    const parents = new Set();
    for (const id of keep) {
      const t = byId.get(id);
      const classes = [];
      if (t.reason !== null) classes.push(t.reason_kind === "dependency" ? "affected" : "seed");
      if (state.marked.has(id)) classes.push("marked");
      if (id === state.selected) classes.push("selected");
      const node = { group: "nodes", data: { id: id, short: short(id), w: textWidth(short(id)) }, classes: classes.join(" ") };
      if (state.group) {
        node.data.parent = "group:" + t.group;
        parents.add(t.group);
      }
      elements.push(node);
    }
    for (const g of parents) {
      elements.push({ group: "nodes", data: { id: "group:" + g, short: g + "/", w: textWidth(g + "/") } });
    }
    for (const id of keep) {
      for (const e of deps.get(id)) {
        if (!keep.has(e.to)) continue;
        const eid = e.from + " -> " + e.to;
        const classes = [edgeClass(e)];
        if (state.markedEdges.has(eid)) classes.push("marked");
        elements.push({ group: "edges", data: { id: eid, source: e.from, target: e.to }, classes: classes.join(" ") });
      }
    }
    cy.elements().remove();
    cy.add(elements);
    listShown([...keep].sort());
    status("Showing " + keep.size + " of " + data.targets.length + " targets");
    runLayout();
  }

  // The overview by folder: one node per folder under `prefix` (a top-level folder
  // at first), edges counting the dependencies between them.
  function drawFolders(prefix) {
    const depth = prefix === "" ? 0 : prefix.split("/").length;
    const inside = data.targets.filter((t) => prefix === "" || folderOf(t) === prefix || folderOf(t).startsWith(prefix + "/"));
    const folderKey = (t) => {
      const parts = folderOf(t).split("/");
      return parts.slice(0, depth + 1).join("/");
    };
    const folders = new Map();
    for (const t of inside) {
      const key = folderKey(t);
      if (!folders.has(key)) folders.set(key, { count: 0, affected: 0 });
      const f = folders.get(key);
      f.count += 1;
      if (t.reason !== null) f.affected += 1;
    }
    if (folders.size <= 1 && inside.length > MAX_NODES && depth < 12) {
      const only = [...folders.keys()][0];
      if (only !== undefined && only !== prefix) return drawFolders(only);
    }
    if (inside.length <= MAX_NODES) return draw(inside.map((t) => t.id));
    const counts = new Map();
    const insideIds = new Set(inside.map((t) => t.id));
    for (const t of inside) {
      for (const e of deps.get(t.id)) {
        if (!insideIds.has(e.to)) continue;
        const a = folderKey(t);
        const b = folderKey(byId.get(e.to));
        if (a === b) continue;
        const key = a + "\u0000" + b;
        counts.set(key, (counts.get(key) || 0) + 1);
      }
    }
    const elements = [];
    for (const [key, f] of folders) {
      const label = key + "/ (" + f.count + (f.affected ? ", " + f.affected + " affected" : "") + ")";
      elements.push({ group: "nodes", data: { id: "folder:" + key, short: label, folder: key, w: textWidth(label) }, classes: "folder" + (f.affected ? " affected" : "") });
    }
    for (const [key, count] of counts) {
      const [a, b] = key.split("\u0000");
      elements.push({
        group: "edges",
        data: { id: "folder:" + a + " -> " + b, source: "folder:" + a, target: "folder:" + b, count: count, weight: Math.min(1 + Math.log2(count), 8) },
        classes: "folder-edge",
      });
    }
    cy.elements().remove();
    cy.add(elements);
    listShown([...folders.keys()].sort().map((k) => k + "/"));
    status(
      (prefix ? prefix + "/: " : "") + inside.length + " targets in " + folders.size +
        " folders; click a folder to open it, or find a target by name"
    );
    runLayout();
  }

  function listShown(items) {
    const list = $("shown");
    list.replaceChildren(
      ...items.map((id) => {
        const t = byId.get(id);
        const li = el("li", {}, id);
        if (t && t.reason !== null) li.className = "affected";
        return li;
      })
    );
  }

  function status(text) {
    $("status").textContent = text;
  }

  // --- views ------------------------------------------------------------------

  function overview() {
    state.selected = null;
    state.marked = new Set();
    state.markedEdges = new Set();
    $("why").hidden = true;
    $("path-result").hidden = true;
    if (data.targets.length <= MAX_NODES) draw(data.targets.map((t) => t.id));
    else if (affectedIds.length > 0 && affectedIds.length <= MAX_NODES) draw(affectedIds);
    else drawFolders("");
  }

  // The target and its deps and dependents up to `levels` away, nearest first,
  // cut at MAX_NODES.
  function neighbourhood(id, levels) {
    const seen = new Set([id]);
    let frontier = [id];
    for (let level = 0; level < levels && seen.size < MAX_NODES; level++) {
      const next = [];
      for (const x of frontier) {
        for (const e of deps.get(x)) if (!seen.has(e.to) && seen.size < MAX_NODES) { seen.add(e.to); next.push(e.to); }
        for (const e of dependents.get(x)) if (!seen.has(e.from) && seen.size < MAX_NODES) { seen.add(e.from); next.push(e.from); }
      }
      frontier = next;
    }
    return seen;
  }

  function focus(id) {
    if (!byId.has(id)) return;
    state.selected = id;
    state.marked = new Set();
    state.markedEdges = new Set();
    $("why").hidden = true;
    $("path-result").hidden = true;
    const levels = Math.max(1, Math.min(9, parseInt($("depth").value, 10) || 1));
    draw(neighbourhood(id, levels));
    showPanel(id);
  }

  function showPanel(id) {
    const t = byId.get(id);
    const panel = $("panel");
    const dl = el("dl");
    const row = (name, value, cls) => {
      dl.append(el("dt", {}, name));
      dl.append(el("dd", cls ? { class: cls } : {}, value));
    };
    row("target", id, "mono");
    if (t.names.length) row("package", t.names.join(", "), "mono");
    row("rule", t.rule);
    row("inputs", t.inputs + " file" + (t.inputs === 1 ? "" : "s"));
    row("content key", t.key === null ? "(not computed)" : t.key, "mono");
    const edgeList = (edges, end) =>
      edges.length === 0
        ? "none"
        : edges.map((e) => e[end] + " (" + e.label + (e.kind === "test" ? ", test-only" : "") + ")").join(", ");
    row("deps", edgeList(deps.get(id), "to"), "mono");
    row("dependents", String(dependents.get(id).length));
    row("affected", t.reason === null ? "no" : t.reason);
    const commands = [
      "graphkit explain " + shellWord(id) + (data.head && data.head !== "WORKTREE" ? " --rev " + shellWord(data.head) : ""),
      "graphkit query rdeps " + shellWord(id),
    ];
    if (t.reason !== null) commands.unshift("graphkit why " + shellWord(id) + revisionArgs());
    const children = [el("h2", {}, t.names[0] || short(id)), dl, el("h2", {}, "Reproduce")];
    for (const c of commands) children.push(el("pre", { class: "command" }, c));
    children.push(el("pre", { class: "command", id: "page-command" }, data.command));
    const buttons = el("p");
    if (t.reason !== null) {
      const why = el("button", { type: "button", id: "show-why" }, "Why affected?");
      why.addEventListener("click", () => showWhy(id));
      buttons.append(why, " ");
    }
    const from = el("button", { type: "button", id: "path-set-from" }, "Path from here");
    from.addEventListener("click", () => { $("path-from").value = id; });
    const to = el("button", { type: "button", id: "path-set-to" }, "Path to here");
    to.addEventListener("click", () => { $("path-to").value = id; });
    buttons.append(from, " ", to);
    children.push(buttons);
    panel.replaceChildren(...children);
  }

  // The recorded chain from a target down to the change that affected it.
  function showWhy(id) {
    const chain = [];
    let current = id;
    while (current !== null && byId.has(current) && byId.get(current).reason !== null && !chain.includes(current)) {
      chain.push(current);
      current = byId.get(current).via;
    }
    state.selected = id;
    state.marked = new Set(chain);
    state.markedEdges = new Set(chain.slice(0, -1).map((x, i) => x + " -> " + chain[i + 1]));
    draw(new Set(chain));
    const list = $("why-chain");
    list.replaceChildren(...chain.map((x) => {
      const li = el("li");
      li.append(el("code", {}, x), ": " + byId.get(x).reason);
      return li;
    }));
    $("why").hidden = false;
    status("Why " + id + " is affected: " + chain.length + " step" + (chain.length === 1 ? "" : "s"));
  }

  function resolve(text) {
    const q = text.trim();
    if (byId.has(q)) return q;
    for (const t of data.targets) if (t.names.includes(q)) return t.id;
    for (const t of data.targets) if (short(t.id) === q) return t.id;
    return null;
  }

  // A shortest path along dependency edges, from `a` down to `b` or from `b` down to `a`.
  function pathBetween(a, b) {
    const search = (from, to) => {
      const prev = new Map([[from, null]]);
      const queue = [from];
      while (queue.length) {
        const x = queue.shift();
        if (x === to) {
          const path = [];
          for (let y = to; y !== null; y = prev.get(y)) path.unshift(y);
          return path;
        }
        for (const e of deps.get(x)) if (!prev.has(e.to)) { prev.set(e.to, x); queue.push(e.to); }
      }
      return null;
    };
    return search(a, b) || search(b, a);
  }

  function showPath() {
    const out = $("path-result");
    out.hidden = false;
    const a = resolve($("path-from").value);
    const b = resolve($("path-to").value);
    if (a === null || b === null) {
      out.replaceChildren(el("p", {}, "Not a target: " + (a === null ? $("path-from").value : $("path-to").value)));
      return;
    }
    const path = pathBetween(a, b);
    if (path === null) {
      out.replaceChildren(el("p", {}, "No dependency path between " + a + " and " + b + "."));
      return;
    }
    state.selected = null;
    state.marked = new Set(path);
    state.markedEdges = new Set(path.slice(0, -1).map((x, i) => x + " -> " + path[i + 1]));
    draw(new Set(path));
    const list = el("ol");
    list.append(...path.map((x) => el("li", {}, x)));
    out.replaceChildren(el("h2", {}, "Path (" + (path.length - 1) + " edges)"), list);
  }

  // --- search -----------------------------------------------------------------

  function matches(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const found = [];
    for (const t of data.targets) {
      if (t.id.toLowerCase().includes(q) || t.names.some((n) => n.toLowerCase().includes(q))) {
        found.push(t);
        if (found.length === 20) break;
      }
    }
    return found;
  }

  function showResults() {
    const found = matches($("search").value);
    const list = $("results");
    list.replaceChildren(...found.map((t) => {
      const li = el("li");
      const b = el("button", { type: "button", "data-id": t.id }, t.id + (t.names.length ? "  (" + t.names[0] + ")" : ""));
      b.addEventListener("click", () => { list.hidden = true; focus(t.id); });
      li.append(b);
      return li;
    }));
    list.hidden = found.length === 0;
  }

  // --- wiring -------------------------------------------------------------------

  $("revisions").textContent =
    (data.base ? "base " + data.base.slice(0, 12) + "  " : "") + "head " + (data.head || "").slice(0, 12) +
    (data.changed.length ? "  · " + data.changed.length + " changed path(s), " + affectedIds.length + " affected" : "");
  $("search").addEventListener("input", showResults);
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      const found = matches($("search").value);
      if (found.length) { $("results").hidden = true; focus(found[0].id); }
    } else if (ev.key === "Escape") {
      $("results").hidden = true;
    }
  });
  $("depth").addEventListener("change", () => { if (state.selected) focus(state.selected); });
  $("group").addEventListener("change", () => {
    state.group = $("group").checked;
    if (state.selected) focus(state.selected); else overview();
  });
  $("overview").addEventListener("click", overview);
  $("path-go").addEventListener("click", showPath);
  cy.on("tap", "node", (ev) => {
    const node = ev.target;
    if (node.data("folder") !== undefined) drawFolders(node.data("folder"));
    else if (byId.has(node.id())) focus(node.id());
  });

  window.graphkitPage = { focus: focus, overview: overview, showWhy: showWhy, cy: cy };
  overview();
})();
