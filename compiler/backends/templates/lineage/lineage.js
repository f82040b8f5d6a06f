"use strict";
// The compiler laid everything out; this script only filters bands, shows a node's attributes
// and highlights what is upstream and downstream of it.
(function () {
  const data = JSON.parse(document.getElementById("lineage-data").textContent);
  const svg = document.getElementById("graph");
  const details = document.getElementById("details");
  const hint = details.innerHTML;
  const [nodeW, nodeH] = data.node;
  const down = {}, up = {};
  for (const [a, b] of data.edges) {
    (down[a] = down[a] || []).push(b);
    (up[b] = up[b] || []).push(a);
  }
  const nodeEls = new Map();
  for (const el of svg.querySelectorAll("g.node")) nodeEls.set(el.dataset.id, el);
  const edgeEls = Array.from(svg.querySelectorAll("path.edge"));
  const bandEls = Array.from(svg.querySelectorAll("g.band"));
  const offset = {};  // project -> how far filtering moved its band
  let selected = null;

  function walk(start, adjacency) {
    const seen = new Set(), stack = [start];
    while (stack.length) {
      for (const next of adjacency[stack.pop()] || []) {
        if (!seen.has(next)) { seen.add(next); stack.push(next); }
      }
    }
    return seen;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showDetails(id, ups, downs) {
    if (!id) { details.innerHTML = hint; return; }
    const node = data.nodes[id];
    details.textContent = "";
    details.append(el("span", { class: "badge kind-" + node.kind }, node.kind));
    details.append(el("h2", {}, node.title));
    details.append(el("div", { class: "where" }, node.project));
    const dl = el("dl");
    for (const [key, value] of node.details) { dl.append(el("dt", {}, key), el("dd", {}, value)); }
    details.append(dl);
    const reach = el("div", { class: "reach" });
    reach.append(el("h3", {}, ups.size + " upstream · " + downs.size + " downstream"));
    // Serving targets reached, by team, each with the environments that serve it.
    const byTeam = {};
    for (const d of Array.from(downs).sort()) {
      const n = data.nodes[d];
      if (n.kind !== "serving") continue;
      const envs = (down[d] || []).filter((r) => data.nodes[r].kind === "release").sort()
        .map((r) => data.nodes[r].title + (data.nodes[r].subtitle.startsWith("canary") ? " (canary)" : ""));
      (byTeam[n.team] = byTeam[n.team] || []).push(n.project.split("/")[1] + " · " + n.title +
        (envs.length ? " → " + envs.join(", ") : " (not released)"));
    }
    for (const team of Object.keys(byTeam).sort()) {
      reach.append(el("div", { class: "team" }, "team " + team + " serves models built on it"));
      const ul = el("ul");
      for (const line of byTeam[team]) ul.append(el("li", {}, line));
      reach.append(ul);
    }
    details.append(reach);
  }

  const marked = new Map();  // element -> its highlight class, to touch only what changes

  function mark(element, css) {
    const before = marked.get(element) || "";
    if (before === css) return;
    if (before) element.classList.remove(before);
    if (css) { element.classList.add(css); marked.set(element, css); } else marked.delete(element);
  }

  function select(id) {
    selected = id && nodeEls.has(id) ? id : null;
    const ups = selected ? walk(selected, up) : new Set();
    const downs = selected ? walk(selected, down) : new Set();
    const want = new Map();
    if (selected) want.set(nodeEls.get(selected), "selected");
    for (const n of ups) want.set(nodeEls.get(n), "upstream");
    for (const n of downs) want.set(nodeEls.get(n), "downstream");
    for (const edge of edgeEls) {
      const a = edge.dataset.source, b = edge.dataset.target;
      if (ups.has(a) && (ups.has(b) || b === selected)) want.set(edge, "upstream");
      else if (downs.has(b) && (downs.has(a) || a === selected)) want.set(edge, "downstream");
    }
    for (const element of Array.from(marked.keys())) if (!want.has(element)) mark(element, "");
    for (const [element, css] of want) mark(element, css);
    svg.classList.toggle("focus", !!selected);
    showDetails(selected, ups, downs);
  }

  function curve(a, b, kind) {  // the same curve as lineage_html.edge_path
    const x1 = a.x + nodeW, y1 = a.y + (offset[a.project] || 0) + Math.floor(nodeH / 2);
    const x2 = b.x, y2 = b.y + (offset[b.project] || 0) + Math.floor(nodeH / 2);
    const bend = Math.max(40, Math.floor((x2 - x1) / 2));
    const dip = kind === "serves" ? data.spacing.servesDip : 0;
    return "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + (y1 + dip) + " " + (x2 - bend) + "," +
      (y2 + dip) + " " + x2 + "," + y2;
  }

  function filter() {
    const teamFilter = document.getElementById("team-filter");  // a team's page links to the others instead
    const team = teamFilter ? teamFilter.value : "";
    const project = document.getElementById("project-filter").value;
    const shown = (b) => (!team || b.team === team) && (!project || b.project === project);
    const visibleTeams = new Set(data.bands.filter((b) => b.type === "project" && shown(b)).map((b) => b.team));
    let y = data.bands.length ? data.bands[0].y : 0;
    data.bands.forEach((band, i) => {
      const visible = band.type === "team" ? visibleTeams.has(band.team) : shown(band);
      const g = bandEls[i];
      g.classList.toggle("hidden", !visible);
      if (!visible) return;
      const dy = y - band.y;
      g.setAttribute("transform", "translate(0," + dy + ")");
      if (band.type === "project") {
        offset[band.project] = dy;
        y += band.height + data.spacing.bandGap;
      } else {
        y += data.spacing.teamHead;
      }
    });
    for (const [nid, node] of nodeEls) {
      const n = data.nodes[nid];
      const visible = shown(n);
      node.style.display = visible ? "" : "none";
      node.setAttribute("transform", "translate(" + n.x + "," + (n.y + (offset[n.project] || 0)) + ")");
    }
    for (const edge of edgeEls) {
      const a = data.nodes[edge.dataset.source], b = data.nodes[edge.dataset.target];
      const visible = shown(a) && shown(b);
      edge.classList.toggle("hidden", !visible);
      if (visible) edge.setAttribute("d", curve(a, b, edge.dataset.kind));
    }
    svg.setAttribute("height", y);
    svg.setAttribute("viewBox", "0 0 " + data.size[0] + " " + y);
    if (selected && !shown(data.nodes[selected])) select(null);
  }

  svg.addEventListener("click", (event) => {
    const node = event.target.closest("g.node");
    select(node ? node.dataset.id : null);
  });
  svg.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest("g.node");
    if (node && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); select(node.dataset.id); }
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") select(null); });
  if (document.getElementById("team-filter")) document.getElementById("team-filter").addEventListener("change", filter);
  document.getElementById("project-filter").addEventListener("change", filter);
  // `index.html#<node id>` opens with that node selected (links from reviews and model cards).
  const fromHash = () => select(decodeURIComponent(location.hash.replace(/^#/, "")) || null);
  window.addEventListener("hashchange", fromHash);
  if (location.hash) fromHash();
})();
