"""OpenLineage export: the lineage graph as static (design-time) JobEvent and DatasetEvent records.

Targets OpenLineage spec 2-0-2 (the version openlineage-python 1.x writes) and the facet schema
versions below; docs/LINEAGE.md documents the mapping. Each project's file
(`lineage/openlineage/<team>/<project>.json`) is one JSON list of events,
sorted, with a fixed `eventTime` (the Unix epoch): design-time metadata has no moment of its own,
and a timestamp would make the committed file change on every compile.

Identities follow OpenLineage's naming conventions, so that runtime integrations (Spark, dbt,
Airflow) writing the same data land on the same datasets:
  - a source: namespace `scheme://authority` of its URI, name the path (`bq://` → `bigquery`);
  - a step output: a logical dataset under the KFP pipeline root,
    `<root>/<team>/<project>/<step>/<output>`, versioned by a design-time version (below);
  - a released model: its release URI, versioned by its digest, with a symlink to the logical
    artifact it was produced as;
  - a job: namespace the team, name `<project>.steps.<step>` or `<project>.evaluations.<name>`.

A step output's version is a design-time recipe hash: sha256 over the producing step's code
commit, image, parameters and its inputs' versions. It changes exactly when something upstream
of the artifact changes, so a consumer can tell which downstream datasets a pin change touches.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

import networkx as nx

from ..middle import refs
from ..middle.check import CheckedRepository
from . import Document
from ..layout import LINEAGE_DIR

SPEC_VERSION = "2-0-2"
PRODUCER = "https://github.com/mlopsc/mlopsc"
EVENT_TIME = "1970-01-01T00:00:00Z"

_SPEC = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/"
# The facet schema versions written (each checked against the openlineage-python models in tests).
FACET_VERSIONS = {
    "SourceCodeLocationJobFacet": "1-1-0",
    "JobTypeJobFacet": "2-0-4",
    "OwnershipJobFacet": "1-0-1",
    "DocumentationJobFacet": "1-1-0",
    "DatasetVersionDatasetFacet": "1-0-1",
    "DatasourceDatasetFacet": "1-0-1",
    "DatasetTypeDatasetFacet": "1-0-1",
    "DocumentationDatasetFacet": "1-1-0",
    "OwnershipDatasetFacet": "1-0-1",
    "SymlinksDatasetFacet": "1-0-1",
}
# Object stores name a dataset by its key, without the leading slash (OpenLineage naming).
_OBJECT_STORES = {"s3", "gs", "abfss", "wasbs"}
_TABLE_SCHEMES = {"bq": "bigquery", "table": "table"}


def facet_schema_url(facet: str) -> str:
    return f"https://openlineage.io/spec/facets/{FACET_VERSIONS[facet]}/{facet}.json#/$defs/{facet}"


def _facet(facet: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": facet_schema_url(facet),
            **{k: v for k, v in fields.items() if v is not None}}


def dataset_identity(uri: str) -> tuple[str, str]:
    """(namespace, name) of a data location, by OpenLineage's naming conventions."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _TABLE_SCHEMES:  # bq://project.dataset.table: the table id is the name
        return _TABLE_SCHEMES[scheme], (parts.netloc + parts.path).strip("/")
    path = parts.path.rstrip("/")
    if scheme in _OBJECT_STORES:
        path = path.lstrip("/")
    if not path:  # a whole bucket or volume
        return f"{scheme}://{parts.netloc}", "/"
    return f"{scheme}://{parts.netloc}", path


class _Exporter:
    def __init__(self, checked: CheckedRepository):
        self.checked = checked
        self.g: nx.DiGraph = checked.lineage.graph
        self.projects = checked.lineage.projects
        self.root_ns, root_name = dataset_identity(checked.config.kubeflow.pipelineRoot)
        self.root_name = "" if root_name == "/" else root_name + "/"
        self._versions: dict[str, str] = {}

    # -- datasets ------------------------------------------------------------------------------
    def identity(self, nid: str) -> tuple[str, str]:
        data = self.g.nodes[nid]
        if data["kind"] in ("source", "release"):
            return dataset_identity(data["uri"])
        project, local = refs.split_node_id(nid)
        _, step, _, output = local.split(".")  # steps.<step>.outputs.<output>
        return self.root_ns, f"{self.root_name}{project}/{step}/{output}"

    def version(self, nid: str) -> str:
        """A dataset's version; an output's depends on its inputs' versions, so they are computed
        first, with an explicit stack: a chain of thousands of steps must not exhaust Python's."""
        stack = [nid]
        while stack:
            node = stack[-1]
            if node in self._versions:
                stack.pop()
                continue
            missing = [p for p in self._inputs(node) if p not in self._versions]
            if missing:
                stack.extend(missing)
            else:
                self._versions[node] = self._version(node)
                stack.pop()
        return self._versions[nid]

    def _producer(self, nid: str) -> str:
        return next(p for p in self.g.predecessors(nid) if self.g.nodes[p]["kind"] == "step")

    def _inputs(self, nid: str) -> list[str]:
        """The datasets whose versions an output's version is made of (none for a source or release)."""
        if self.g.nodes[nid]["kind"] in ("source", "release"):
            return []
        step = self._producer(nid)
        return [p for p in self.g.predecessors(step) if self.g.edges[p, step]["kind"] == "reads"]

    def _version(self, nid: str) -> str:
        data = self.g.nodes[nid]
        if data["kind"] == "source":
            return data["version"]
        if data["kind"] == "release":
            return data["digest"]
        step = self._producer(nid)
        project, local = refs.split_node_id(step)
        spec = self.projects[project].model.spec.steps[local.split(".", 1)[1]]
        inputs = {self.g.edges[p, step]["input"]: self._versions[p]
                  for p in self.g.predecessors(step) if self.g.edges[p, step]["kind"] == "reads"}
        recipe = {"code": spec.code.commit, "image": spec.image, "params": spec.params,
                  "inputs": inputs, "output": data["label"]}
        blob = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def dataset(self, nid: str) -> dict:
        data = self.g.nodes[nid]
        namespace, name = self.identity(nid)
        if data["kind"] == "source":
            table = urlsplit(data["uri"]).scheme.lower() in _TABLE_SCHEMES
            kind = "TABLE" if table else "FILE"
        else:
            kind = "MODEL" if data["kind"] == "release" or data.get("type") == "model" else "FILE"
        facets = {"version": _facet("DatasetVersionDatasetFacet", datasetVersion=self.version(nid)),
                  "datasetType": _facet("DatasetTypeDatasetFacet", datasetType=kind)}
        if data["kind"] == "source":
            facets["dataSource"] = _facet("DatasourceDatasetFacet", name=namespace, uri=data["uri"])
        return {"namespace": namespace, "name": name, "facets": facets}

    def dataset_event(self, nodes: list[str]) -> dict:
        """One DatasetEvent for one dataset version; a model pinned in several environments is
        several release nodes of one dataset."""
        first = self.g.nodes[nodes[0]]
        ds = self.dataset(nodes[0])
        project = self.projects[first["project"]].model
        description = None
        if first["kind"] == "source":
            description = project.spec.sources[first["label"]].description
        elif first["kind"] == "release":
            labels = ", ".join(self.g.nodes[n]["label"] for n in nodes)
            description = f"model of {first['project']} released as {labels}"
            served = next(p for p in self.g.predecessors(nodes[0]) if self.g.nodes[p]["kind"] == "serving")
            artifact = next((p for p in self.g.predecessors(served) if self.g.nodes[p]["kind"] == "artifact"), None)
            if artifact:
                a_ns, a_name = self.identity(artifact)
                ds["facets"]["symlinks"] = _facet("SymlinksDatasetFacet", identifiers=[
                    {"namespace": a_ns, "name": a_name, "type": "ARTIFACT"}])
        if description:
            ds["facets"]["documentation"] = _facet("DocumentationDatasetFacet", description=description)
        ds["facets"]["ownership"] = _facet("OwnershipDatasetFacet", owners=_owners(project, self.checked))
        return {"eventTime": EVENT_TIME, "producer": PRODUCER, "schemaURL": _SPEC + "DatasetEvent",
                "dataset": ds}

    # -- jobs ----------------------------------------------------------------------------------
    def job_event(self, nid: str) -> dict:
        data = self.g.nodes[nid]
        project_key, local = refs.split_node_id(nid)
        model = self.projects[project_key].model
        section, name = local.split(".", 1)
        code = getattr(model.spec, section)[name].code
        facets = {
            "sourceCodeLocation": _facet("SourceCodeLocationJobFacet", type="git", url=code.repo,
                                         repoUrl=code.repo, path=code.path, version=code.commit),
            "jobType": _facet("JobTypeJobFacet", processingType="BATCH",
                              integration="KUBEFLOW_PIPELINES", jobType="TASK"),
            "ownership": _facet("OwnershipJobFacet", owners=_owners(model, self.checked)),
        }
        if model.metadata.description:
            facets["documentation"] = _facet("DocumentationJobFacet", description=model.metadata.description)
        # Inputs by input name (an evaluation's model first), outputs by output name.
        reads = sorted((self.g.edges[p, nid].get("input", ""), p) for p in self.g.predecessors(nid)
                       if self.g.edges[p, nid]["kind"] in ("reads", "evaluates"))
        outputs = sorted(s for s in self.g.successors(nid) if self.g.nodes[s]["kind"] == "artifact")
        return {"eventTime": EVENT_TIME, "producer": PRODUCER, "schemaURL": _SPEC + "JobEvent",
                "job": {"namespace": data["team"], "name": f"{model.metadata.name}.{local}",
                        "facets": facets},
                "inputs": [self.dataset(p) for _, p in reads],
                "outputs": [self.dataset(s) for s in outputs]}


def _owners(project, checked: CheckedRepository) -> list[dict]:
    """The team, then the project's owners and the team's owners from mlopsc.yaml."""
    team = project.metadata.team
    configured = (checked.config.teams or {}).get(team)
    emails = dict.fromkeys(list(project.metadata.owners) + list(configured.owners if configured else []))
    return ([{"name": f"team:{team}", "type": "TEAM"}]
            + [{"name": f"user:{email}", "type": "MAINTAINER"} for email in emails])


def events(checked: CheckedRepository, nodes: set[str] | None = None) -> list[dict]:
    """Every event: JobEvents sorted by job, then DatasetEvents sorted by dataset and version.
    `nodes` restricts the export to a selection of the graph."""
    exporter = _Exporter(checked)
    g = checked.lineage.graph
    keep = sorted(g.nodes if nodes is None else nodes)
    jobs = [exporter.job_event(n) for n in keep if g.nodes[n]["kind"] in ("step", "evaluation")]
    jobs.sort(key=lambda e: (e["job"]["namespace"], e["job"]["name"]))
    by_dataset: dict[tuple[str, str, str], list[str]] = {}
    for n in keep:
        if g.nodes[n]["kind"] in ("source", "artifact", "release"):
            by_dataset.setdefault((*exporter.identity(n), exporter.version(n)), []).append(n)
    return jobs + [exporter.dataset_event(by_dataset[k]) for k in sorted(by_dataset)]


def to_json(checked: CheckedRepository, nodes: set[str] | None = None) -> str:
    return json.dumps(events(checked, nodes), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def project_path(project_key: str) -> str:
    return f"{LINEAGE_DIR}/openlineage/{project_key}.json"


def emit(checked: CheckedRepository) -> list[Document]:
    """One file of events per project (its jobs and the datasets its nodes are), so a change to
    one project rewrites its own file; a dataset two projects read is in both files."""
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: each project's file."""
    return [p.key for p in checked.projects]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    return [Document(project_path(unit), events(checked, set(checked.lineage.nodes_of_project(unit))),
                     "json", owner=unit)]
