"""The lineage pages: one self-contained page per team (inline CSS, JS, SVG) under an index page.

`generated/lineage/index.html` lists the teams and their projects and links to
`generated/lineage/teams/<team>.html`, which shows the team's projects and, of every project of
another team that one of them exchanges a model with (a cross-team edge), what leads to that model
or follows from it, so highlighting follows lineage one project across the team boundary. A page's size follows its team, not the repository, and a change to one
project rewrites only the pages that show it.

The compiler computes the whole layout, so the file is deterministic and diffs cleanly:
  columns by stage, left to right: sources │ steps and their artifacts, interleaved by depth
  (a step sits one level right of every step whose output it reads, across projects too) │
  evaluations │ serving targets │ releases per environment;
  rows grouped by team, then project (one band per project), nodes within a column ordered by
  the rows of what they read, so edges run mostly straight. A team's page puts its own team
  first; another team's partial project is marked as such and its band starts at its first node.
Code, image and gate nodes are shown as attributes of their step or evaluation rather than as
boxes; an evaluation's gates draw one edge to each serving target they gate. The script only
filters bands, shows a node's attributes and highlights its upstream and downstream.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

import jinja2
import networkx as nx

from ..middle import refs
from ..middle.check import CheckedRepository
from ..middle.monitoring import monitor_pipeline_name, monitored_environments
from . import Document, jinja_templates
from ..layout import LINEAGE_DIR

PATH = f"{LINEAGE_DIR}/index.html"


def team_path(team: str) -> str:
    return f"{LINEAGE_DIR}/teams/{team}.html"


SHOWN_KINDS = ("source", "step", "artifact", "evaluation", "serving", "release", "monitor")

NODE_W, NODE_H = 172, 46
COL_W = 204  # node width plus the gap the edges curve through
ROW_H = 60
BAND_HEAD = 30  # project title inside its band
BAND_PAD = 12
BAND_GAP = 12
TEAM_HEAD = 40
LEFT, TOP = 24, 56  # room for the stage headings
SERVES_DIP = 44
TEAM_COLORS = ["#60a5fa", "#f472b6", "#34d399", "#fbbf24", "#a78bfa", "#fb923c", "#22d3ee", "#f87171"]


@dataclass
class Box:
    id: str
    kind: str
    team: str
    project: str
    title: str
    subtitle: str
    column: int
    row: int = 0
    x: int = 0
    y: int = 0
    css: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(text: str | None) -> str:
    if not text:
        return ""
    algo, _, hexpart = text.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else text[:19]


class _Page:
    def __init__(self, checked: CheckedRepository, nodes: set[str] | None = None, team: str | None = None):
        self.checked = checked
        # A team's page: the subgraph of the projects it shows (see team_nodes).
        self.g: nx.DiGraph = checked.lineage.graph if nodes is None else checked.lineage.graph.subgraph(nodes)
        self.team = team
        # A team's colour is the same on every page: its place among all the repository's teams.
        self.colors = team_colors(checked)
        self.projects = checked.lineage.projects
        self.env_order = {env: i for i, env in enumerate(checked.config.environments)}
        self.has_monitors = any(kind == "monitor" for _, kind in self.g.nodes(data="kind"))

    # -- the graph as shown: code, image and gate nodes folded into their owners ---------------------
    def shown_edges(self) -> list[tuple[str, str, str]]:
        edges = set()
        for a, b, data in self.g.edges(data=True):
            ka, kb = self.g.nodes[a]["kind"], self.g.nodes[b]["kind"]
            if ka in SHOWN_KINDS and kb in SHOWN_KINDS:
                edges.add((a, b, data["kind"]))
            elif ka == "gate" and kb == "serving":
                evaluation = next(iter(self.g.predecessors(a)))
                edges.add((evaluation, b, "gated-by"))
        return sorted(edges)

    def depths(self) -> dict[str, int]:
        """A step's depth: one more than the deepest step whose output it reads."""
        depth: dict[str, int] = {}
        steps = [n for n in nx.topological_sort(self.g) if self.g.nodes[n]["kind"] == "step"] \
            if nx.is_directed_acyclic_graph(self.g) else \
            [n for n in self.checked.lineage.nodes_of("step") if n in self.g]
        for step in steps:
            upstream = [depth.get(p2, 0) + 1 for p in self.g.predecessors(step)
                        if self.g.nodes[p]["kind"] == "artifact"
                        for p2 in self.g.predecessors(p) if self.g.nodes[p2]["kind"] == "step"]
            depth[step] = max(upstream, default=0)
        return depth

    def boxes(self) -> tuple[list[Box], int]:
        depth = self.depths()
        max_depth = max(depth.values(), default=0)
        # Continuous evaluations (monitors) get a column after the releases, when there are any.
        column_of = {"source": 0, "evaluation": 2 * max_depth + 3, "serving": 2 * max_depth + 4,
                     "release": 2 * max_depth + 5, "monitor": 2 * max_depth + 6}
        result = []
        for nid in sorted(self.g.nodes):
            data = self.g.nodes[nid]
            kind = data["kind"]
            if kind not in SHOWN_KINDS:
                continue
            if kind == "step":
                column = 1 + 2 * depth.get(nid, 0)
            elif kind == "artifact":
                producer = next(p for p in self.g.predecessors(nid) if self.g.nodes[p]["kind"] == "step")
                column = 2 + 2 * depth.get(producer, 0)
            else:
                column = column_of[kind]
            title, subtitle, css = self.describe(nid, data)
            result.append(Box(nid, kind, data["team"], data["project"], title, subtitle, column, css=css,
                              details=self.details(nid, data)))
        return result, 2 * max_depth + 6 + (1 if self.has_monitors else 0)

    def describe(self, nid: str, d: dict) -> tuple[str, str, str]:
        kind = d["kind"]
        if kind == "source":
            return d["label"], f"{d['version']}" + (" · PII" if d.get("pii") else ""), "pii" if d.get("pii") else ""
        if kind == "step":
            code = self.g.nodes.get(nid + ".code", {})  # refs.container_part_id(…, "code")
            return d["label"], f"commit {code.get('commit', '')[:7]}", ""
        if kind == "artifact":
            return d["label"], d.get("type", ""), d.get("type", "")
        if kind == "evaluation":
            gates = len(d.get("gates", []))
            return d["label"], f"{gates} gate{'s' if gates != 1 else ''} · {len(d.get('metrics', []))} metrics", ""
        if kind == "serving":
            runtime = f"KServe {d['format']}" if d.get("format") else "container"
            return d["label"], runtime, ""
        if kind == "monitor":
            return d["label"], f"{d['evaluation']} · {d['schedule']}", ""
        if d.get("canary"):
            return d["environment"], f"canary {d['percent']}% · {_digest(d.get('digest'))[7:15]}", "canary"
        return d["environment"], _digest(d.get("digest")), ""

    def details(self, nid: str, d: dict) -> list[tuple[str, str]]:
        if self.team is not None and d["team"] != self.team:
            # Another team's node: its own page has the details, and this page need not change
            # whenever they do.
            return [("id", nid), ("details", f"on team {d['team']}'s page, {d['team']}.html")]
        project_key, local = refs.split_node_id(nid)
        spec = self.projects[project_key].model.spec
        rows: list[tuple[str, str]] = [("id", nid), ("defined at", f"{d['file']}:{d['line']}:{d['column']}")]
        kind = d["kind"]
        if kind == "source":
            src = spec.sources[d["label"]]
            rows += [("uri", src.uri), ("version", str(src.version))]
            rows += [("format", src.format)] if src.format else []
            rows += [("pii", "yes")] if src.pii else []
            rows += [("description", src.description)] if src.description else []
        elif kind in ("step", "evaluation"):
            item = (spec.steps if kind == "step" else spec.evaluations)[d["label"]]
            rows += [("image", item.image), ("code", f"{item.code.repo} @ {item.code.commit}"),
                     ("code path", item.code.path)]
            if item.params:
                rows.append(("params", ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(item.params.items()))))
            if kind == "evaluation":
                rows += [("metrics", ", ".join(item.metrics)), ("gates", " · ".join(item.gates) or "none")]
            elif item.outputs:
                rows.append(("outputs", ", ".join(f"{k} ({v})" for k, v in item.outputs.items())))
        elif kind == "artifact":
            rows.append(("type", d.get("type", "")))
        elif kind == "serving":
            target = spec.serving[d["label"]]
            if target.runtime.kserve:
                rows.append(("runtime", f"KServe {target.runtime.kserve.format}"))
            else:
                rows.append(("runtime", f"container {target.runtime.container.image}"))
            rows += [("model", target.model), ("gated by", ", ".join(target.gates) or "nothing (ungated)")]
            rows.append(("environments", ", ".join(target.environments) or "none"))
        elif kind == "monitor":
            target_name = local.split(".")[1]
            team, name = project_key.split("/", 1)
            rows += [("evaluation", d["evaluation"]), ("schedule", f"{d['schedule']} (UTC)"),
                     ("pipeline", monitor_pipeline_name(team, name, target_name)),
                     ("watches", ", ".join(monitored_environments(self.checked.config, spec.serving[target_name]))
                      or "nothing yet")]
        elif kind == "release":
            rows += [("environment", d["environment"]), ("model uri", d.get("uri", "")),
                     ("digest", d.get("digest", ""))]
            if d.get("canary"):
                rows.append(("canary traffic", f"{d.get('percent')}%"))
            rows.append(("evidence", d.get("evidence", "")))
            evidence = self.checked.repo.evidence.get(d.get("evidence", ""))
            record = evidence.record if evidence else None
            if record is not None:
                for metric, value in sorted(record.metrics.items()):
                    rows.append((f"metric {metric}", f"{value:g}"))
                if record.lineage.run:
                    rows.append(("run", record.lineage.run))
                if record.lineage.pipelineVersion:
                    rows.append(("pipeline version", record.lineage.pipelineVersion))
            elif evidence is not None:
                rows.append(("evidence problem", evidence.problem or ""))
        return rows

    # -- placement ---------------------------------------------------------------------------------
    def place(self, boxes: list[Box], edges: list[tuple[str, str, str]]) -> tuple[list[dict], int]:
        """Bands per team and project; within a band, each column ordered by the mean row of what
        its nodes read (ties by id), so the layout is stable for the same graph."""
        by_id = {b.id: b for b in boxes}
        preds: dict[str, list[str]] = {}
        for a, b, _ in edges:
            preds.setdefault(b, []).append(a)
        by_team: dict[str, dict[str, list[Box]]] = {}
        for box in boxes:
            by_team.setdefault(box.team, {}).setdefault(box.project, []).append(box)
        bands, y = [], TOP
        # A team's page shows its own team first, then the other teams' partial projects, each
        # marked as upstream and/or downstream of it.
        order = sorted(by_team, key=lambda t: (t != self.team, t))
        relation = self.relations()
        for team in order:
            color = self.colors[team]
            bands.append({"type": "team", "team": team, "y": y, "color": color,
                          "projects": sorted(by_team[team]), "relation": relation.get(team, "")})
            y += TEAM_HEAD
            for project in sorted(by_team[team]):
                members = by_team[team][project]
                columns: dict[int, list[Box]] = {}
                for box in members:
                    columns.setdefault(box.column, []).append(box)
                rows_used = 1
                for column in sorted(columns):
                    def key(box: Box) -> tuple:
                        local = [by_id[p].row for p in preds.get(box.id, []) if by_id[p].project == project]
                        mean = sum(local) / len(local) if local else 0.0
                        env = self.env_order.get(self.g.nodes[box.id].get("environment"), 0)
                        return (mean, env, box.id)
                    last = -1
                    for box in sorted(columns[column], key=key):
                        # Level with what it reads where there is room, below the previous box.
                        box.row = max(int(key(box)[0] + 0.5), last + 1)
                        last = box.row
                    rows_used = max(rows_used, last + 1)
                height = BAND_HEAD + rows_used * ROW_H + BAND_PAD
                owners = self.projects[project].model.metadata.owners
                # Another team's project on a team's page shows only part of it: its band starts
                # where its first node does, so it reads as that part rather than an empty band.
                partial = self.team is not None and team != self.team
                left = LEFT + (min(box.column for box in members) if partial else 0) * COL_W - BAND_PAD
                bands.append({"type": "project", "team": team, "project": project, "y": y, "x": left,
                              "partial": partial,
                              "height": height, "color": color,
                              "name": project.split("/", 1)[1], "owners": ", ".join(owners),
                              "description": self.projects[project].model.metadata.description or ""})
                for box in members:
                    box.x = LEFT + box.column * COL_W
                    box.y = y + BAND_HEAD + box.row * ROW_H
                y += height + BAND_GAP
        return bands, y

    def relations(self) -> dict[str, str]:
        """On a team's page, each other team shown: "upstream", "downstream" or both, of the team."""
        if self.team is None:
            return {}
        ups: set[str] = set()
        downs: set[str] = set()
        for a, b in self.g.edges:
            ta, tb = self.g.nodes[a]["team"], self.g.nodes[b]["team"]
            if ta != tb and tb == self.team:
                ups.add(ta)
            elif ta != tb and ta == self.team:
                downs.add(tb)
        words = {}
        for t in ups | downs:
            where = " and ".join(w for w, s in (("upstream", ups), ("downstream", downs)) if t in s)
            words[t] = f"{where} of {self.team}"
        return words

    def render(self) -> str:
        edges = self.shown_edges()
        boxes, columns = self.boxes()
        bands, height = self.place(boxes, edges)
        by_id = {b.id: b for b in boxes}
        width = LEFT * 2 + columns * COL_W - (COL_W - NODE_W)
        last = columns - 1 - (1 if self.has_monitors else 0)  # the releases' column
        depth_cols = last - 3
        stages = [("Sources", 0, 0)]
        stages.append(("Training — steps and their artifacts", 1, depth_cols))
        stages += [("Evaluations", last - 2, last - 2), ("Serving", last - 1, last - 1), ("Releases", last, last)]
        if self.has_monitors:
            stages.append(("Monitors", last + 1, last + 1))
        stage_heads = [{"label": label, "x": LEFT + first * COL_W,
                        "width": (last - first) * COL_W + NODE_W} for label, first, last in stages]
        edge_rows = []
        for a, b, kind in edges:
            s, t = by_id[a], by_id[b]
            cross = s.team != t.team
            edge_rows.append({"source": a, "target": b, "kind": kind, "path": edge_path(s, t, kind),
                              "css": " ".join(c for c in (kind, "cross-team" if cross else
                                                          "cross-project" if s.project != t.project else "") if c)})
        data = {
            "nodes": {b.id: {"kind": b.kind, "team": b.team, "project": b.project, "title": b.title,
                             "subtitle": b.subtitle, "x": b.x, "y": b.y, "details": b.details}
                      for b in boxes},
            "edges": [[e["source"], e["target"], e["kind"]] for e in edge_rows],
            "bands": bands,
            "size": [width, height],
            "node": [NODE_W, NODE_H],
            "spacing": {"teamHead": TEAM_HEAD, "bandGap": BAND_GAP, "servesDip": SERVES_DIP},
        }
        counts = {k: sum(1 for b in boxes if b.kind == k) for k in SHOWN_KINDS}
        teams = sorted({b.team for b in boxes})
        return _template("index.html.j2").render(
            team=self.team, index_href="../index.html" if self.team else None,
            team_hrefs={t: f"{t}.html" for t in teams if t != self.team} if self.team else {},
            all_teams=[{"team": t, "href": f"{t}.html", "color": self.colors[t]} for t in sorted(self.colors)],
            css=jinja2.utils.markupsafe.Markup(_asset("lineage.css")),
            js=jinja2.utils.markupsafe.Markup(_asset("lineage.js")),
            data=jinja2.utils.markupsafe.Markup(_script_json(data)),
            boxes=boxes, edges=edge_rows, bands=bands, stages=stage_heads, width=width, height=height,
            node_w=NODE_W, node_h=NODE_H, counts=counts, teams=teams,
            projects=sorted({b.project for b in boxes}),
            repo=self.checked.config.gitops.repoURL,
        )


def edge_path(s: Box, t: Box, kind: str) -> str:
    """A cubic curve from the right middle of one box to the left middle of the next (the script
    draws the same curve when filtering moves bands). A model's edge to its serving target dips
    into the gap below the row, so it does not run through the evaluation between them."""
    x1, y1 = s.x + NODE_W, s.y + NODE_H // 2
    x2, y2 = t.x, t.y + NODE_H // 2
    bend = max(40, (x2 - x1) // 2)
    dip = SERVES_DIP if kind == "serves" else 0
    return f"M{x1},{y1} C{x1 + bend},{y1 + dip} {x2 - bend},{y2 + dip} {x2},{y2}"


@functools.lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    """Compiled once per process: compiling the page template costs more than rendering a page."""
    env = jinja_templates.environment(__package__, "templates/lineage", autoescape=True, trim_blocks=True,
                                      lstrip_blocks=True, keep_trailing_newline=True,
                                      undefined=jinja2.StrictUndefined)
    return env.get_template(name)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("templates", "lineage", name).read_text(encoding="utf-8")


def _script_json(data: dict) -> str:
    """JSON safe inside <script> (no `<` at all, so no `</script>` or `<!--` can end or confuse
    the element), one node, edge or band per line so that a change to one node is a one-line diff."""
    def dump(value) -> str:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return text.replace("<", "\\u003c")  # `<` only occurs inside JSON strings

    parts = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, dict) and key == "nodes":
            body = ",\n".join(f"{dump(k)}:{dump(value[k])}" for k in sorted(value))
            parts.append(f"{dump(key)}:{{\n{body}\n}}")
        elif isinstance(value, list) and value and isinstance(value[0], (dict, list)):
            parts.append(f"{dump(key)}:[\n" + ",\n".join(dump(v) for v in value) + "\n]")
        else:
            parts.append(f"{dump(key)}:{dump(value)}")
    return "{\n" + ",\n".join(parts) + "\n}"


def render(checked: CheckedRepository) -> str:
    """The whole repository on one page (`mlopsc graph`'s kind of view; small repositories)."""
    return _Page(checked).render()


def teams(checked: CheckedRepository) -> list[str]:
    return sorted({p.model.metadata.team for p in checked.projects})


def team_colors(checked: CheckedRepository) -> dict[str, str]:
    """Each team's colour, by its place among all teams (the index and every page agree)."""
    return {team: TEAM_COLORS[i % len(TEAM_COLORS)] for i, team in enumerate(teams(checked))}


def team_nodes(checked: CheckedRepository, team: str) -> set[str]:
    """The nodes of a team's page: its projects' nodes, and in another team's project that one of
    them has an edge to or from, what leads to that edge there (upstream of a model the team
    trains on) or follows from it (downstream of a model of the team's)."""
    g = checked.lineage.graph
    shown = {n for n, data in g.nodes(data=True) if data["team"] == team}
    foreign: set[str] = set()
    # Each direction is its own closure, so the result never depends on the order of the walk.
    for neighbours in (g.predecessors, g.successors):
        seen: set[str] = set()
        stack = [m for n in shown for m in neighbours(n) if m not in shown]
        seen.update(stack)
        while stack:  # within that project only: the page shows one hop of projects
            n = stack.pop()
            project = g.nodes[n]["project"]
            for m in neighbours(n):
                if m not in seen and m not in shown and g.nodes[m]["project"] == project:
                    seen.add(m)
                    stack.append(m)
        foreign |= seen
    # A step's code and image and an evaluation's gates are shown as its attributes.
    parts = {m for n in foreign for m in g.predecessors(n) if g.nodes[m]["kind"] in ("code", "image")}
    return shown | foreign | parts


def render_team(checked: CheckedRepository, team: str) -> str:
    return _Page(checked, team_nodes(checked, team), team).render()


def render_index(checked: CheckedRepository) -> str:
    """The index page: every team with its projects and counts, linking to the team pages."""
    g = checked.lineage.graph
    kinds: dict[str, dict[str, int]] = {team: {} for team in teams(checked)}
    feeds: dict[str, set[str]] = {team: set() for team in kinds}
    fed_by: dict[str, set[str]] = {team: set() for team in kinds}
    for n, data in g.nodes(data=True):
        counts = kinds.setdefault(data["team"], {})
        counts[data["kind"]] = counts.get(data["kind"], 0) + 1
    for a, b in g.edges:
        ta, tb = g.nodes[a]["team"], g.nodes[b]["team"]
        if ta != tb:
            feeds.setdefault(ta, set()).add(tb)
            fed_by.setdefault(tb, set()).add(ta)
    projects: dict[str, list[str]] = {}
    for p in checked.projects:
        projects.setdefault(p.model.metadata.team, []).append(p.model.metadata.name)
    colors = team_colors(checked)
    rows = [{"team": team, "href": f"teams/{team}.html", "projects": sorted(projects.get(team, [])),
             "kinds": kinds[team], "color": colors[team],
             "feeds": [{"team": t, "color": colors[t]} for t in sorted(feeds.get(team, ()))],
             "fed_by": [{"team": t, "color": colors[t]} for t in sorted(fed_by.get(team, ()))]}
            for team in teams(checked)]
    totals = {kind: sum(row["kinds"].get(kind, 0) for row in rows) for kind in SHOWN_KINDS}
    return _template("teams.html.j2").render(
        rows=rows, repo=checked.config.gitops.repoURL, projects=len(checked.projects), totals=totals,
        monitors=any(row["kinds"].get("monitor") for row in rows),
        css=jinja2.utils.markupsafe.Markup(_asset("lineage.css") + _asset("index.css")))


def emit(checked: CheckedRepository) -> list[Document]:
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


# Its units are teams, not projects (compiler/middle/reach.py: what a team's page reads).
UNIT_SCOPE = "team"


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: "" the index, then each team's page."""
    return [""] + teams(checked)


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    if not unit:
        return [Document(PATH, render_index(checked), "text")]
    return [Document(team_path(unit), render_team(checked, unit), "text")]
