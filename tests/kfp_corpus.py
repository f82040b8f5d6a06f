"""What the KFP back end emits for three repositories, shared by the tests/test_kfp_*.py files.

- `bundled`: this repository's specs; `examples`: the contract's examples (../shared/spec/examples);
- `edge`: a repository written here to reach what those two do not: sources with int and git
  versions, default arguments, list/dict/bool/null params, plain and secret env (two keys of one
  Secret), cache off, millicores and fractional memory, a GPU without a type, retries and a
  timeout, gates with every operator, a gated target whose evaluation has no gates, an ungated
  target, release write-back (the release task proposes with a Secret's token), a step named
  `importer` (kfp's own importer key), cross-project inputs of a source, of a data set and of a
  model that has no release yet, and names no Python identifier can spell.

Emission runs in-process (load, check, `kfp.emit`, the shared serializer) once per session; each
IR file is also written to disk, because kfp loads pipelines from files.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO

EDGE_FILES = {
    'mlopsc.yaml': r"""
apiVersion: mlopsc.dev/v1
kind: Repository
gitops:
  repoURL: https://git.example.com/ml/edge.git
  targetRevision: release
  writeBack: {credentials: {secret: edge-git.token, key: git_token}, branchPrefix: bots/propose/}
kubeflow:
  pipelineRoot: gs://edge-pipelines/root
  releaseImage: registry.example.com/platform/mlopsc@sha256:0b9a1c77e1bde3d6a3a3a1c1b1c08e29be1c1e0f5f5a7f6b1f9f0a1d2c3b4a59
environments:
  dev: {}
  staging: {promotesFrom: dev}
  production: {cluster: https://prod.example.com, promotesFrom: staging}
teams: {alpha: {}, beta: {}}
policy: {allowedRegistries: [registry.example.com]}
""",
    'specs/alpha/producer.yaml': r"""
apiVersion: mlopsc.dev/v1
kind: MLProject
metadata:
  name: producer
  team: alpha
  description: |-
    Edge cases for the KFP back end:
    dashed names, default arguments, unset params, secrets, GPUs without a type.
spec:
  sources:
    raw: {uri: s3://alpha-lake/raw/, version: 42}
    lookup: {uri: bq://alpha.lookup, version: "git:0123456789abcdef0123456789abcdef01234567", format: table}
  steps:
    prep-data:
      image: registry.example.com/alpha/prep@sha256:1111111111111111111111111111111111111111111111111111111111111111
      code: {repo: https://git.example.com/alpha/prep.git, commit: a111111111111111111111111111111111111111}
      command: [python, -m, prep]
      inputs: {raw_table: sources.raw, lookup: sources.lookup}
      outputs: {clean: dataset, stats: metrics}
      params: {sample_rate: 0.5, columns: [id, amount, 3], options: {mode: fast, depth: 2}, strict: true, since: null}
      env:
        MODE: fast
        LEVEL: 3
        DEBUG: false
        DB_PASSWORD: {secret: db, key: password}
        DB_USER: {secret: db, key: user}
        API_TOKEN: {secret: api, key: token}
      cache: false
      resources: {cpu: 500m, memory: 1.5Gi}
    train:
      image: registry.example.com/alpha/train@sha256:2222222222222222222222222222222222222222222222222222222222222222
      code: {repo: https://git.example.com/alpha/train.git, commit: a222222222222222222222222222222222222222}
      command: [sh, -c]
      args: ["python train.py --data=${inputs.clean} --epochs ${params.epochs} --out \"${outputs.model}\"\necho done"]
      inputs: {clean: steps.prep-data.outputs.clean}
      outputs: {model: model}
      params: {epochs: 10}
      resources: {cpu: 2, memory: "3000000000", gpu: 2}
      retries: 10
      timeout: 1h30m
  evaluations:
    quality:
      model: steps.train.outputs.model
      inputs: {stats: steps.prep-data.outputs.stats}
      image: registry.example.com/alpha/eval@sha256:3333333333333333333333333333333333333333333333333333333333333333
      code: {repo: https://git.example.com/alpha/eval.git, commit: a333333333333333333333333333333333333333}
      params: {threshold: 0.5}
      metrics: [acc, loss, bias]
      gates: ["acc > 0.9", "loss < 1e-2", "bias == 0", "acc <= 1"]
    speed:
      model: steps.train.outputs.model
      image: registry.example.com/alpha/speed@sha256:4444444444444444444444444444444444444444444444444444444444444444
      code: {repo: https://git.example.com/alpha/speed.git, commit: a444444444444444444444444444444444444444}
      metrics: [p50]
  serving:
    api:
      model: steps.train.outputs.model
      gates: [quality, speed]
      runtime: {kserve: {format: sklearn}}
    shadow:
      model: steps.train.outputs.model
      gates: [speed]
      runtime: {kserve: {format: sklearn}}
    batch:
      model: steps.train.outputs.model
      runtime: {kserve: {format: sklearn}}
""",
    'specs/alpha/dashes.yaml': r"""
apiVersion: mlopsc.dev/v1
kind: MLProject
metadata:
  name: dashes
  team: alpha
  description: "Noms non-identifiants — détection: names kfp's DSL cannot spell."
spec:
  sources:
    raw-events: {uri: "https://data.example.com/raw events.csv", version: "2026-01-01"}
  steps:
    clean-up:
      image: registry.example.com/alpha/clean@sha256:8888888888888888888888888888888888888888888888888888888888888888
      code: {repo: https://git.example.com/alpha/clean.git, commit: a888888888888888888888888888888888888888}
      command: [sh, -c, "set -e\n\tclean --in \"$0\" --out \"$1\" \"$2\""]
      args: ["${inputs.raw-in}", "${outputs.clean-out}", "--max-rows=${params.max-rows}"]
      inputs: {raw-in: sources.raw-events}
      outputs: {clean-out: dataset}
      params: {max-rows: 1000}
  evaluations:
    sanity-check:
      model: alpha/producer:steps.train.outputs.model
      inputs: {data-in: steps.clean-up.outputs.clean-out}
      image: registry.example.com/alpha/sanity@sha256:9999999999999999999999999999999999999999999999999999999999999999
      code: {repo: https://git.example.com/alpha/sanity.git, commit: a999999999999999999999999999999999999999}
      metrics: [f1_score, rows-seen]
      gates: ["f1_score >= 0.7"]
  serving:
    sanity-api:
      model: alpha/producer:steps.train.outputs.model
      gates: [sanity-check]
      runtime: {kserve: {format: sklearn}}
""",
    'specs/beta/consumer.yaml': r"""
apiVersion: mlopsc.dev/v1
kind: MLProject
metadata: {name: consumer, team: beta}
spec:
  sources:
    events: {uri: s3://beta-lake/events/, version: "2026-11-02"}
  steps:
    importer:
      image: registry.example.com/beta/join@sha256:5555555555555555555555555555555555555555555555555555555555555555
      code: {repo: https://git.example.com/beta/join.git, commit: a555555555555555555555555555555555555555}
      inputs:
        events: sources.events
        upstream_raw: alpha/producer:sources.raw
        upstream_clean: alpha/producer:steps.prep-data.outputs.clean
      outputs: {joined: dataset}
      params: {note: null, weight: 2.5}
    check:
      image: registry.example.com/beta/fit@sha256:6666666666666666666666666666666666666666666666666666666666666666
      code: {repo: https://git.example.com/beta/fit.git, commit: a666666666666666666666666666666666666666}
      inputs: {joined: steps.importer.outputs.joined, base: alpha/producer:steps.train.outputs.model}
      outputs: {model: model}
  evaluations:
    fit-check:
      model: steps.check.outputs.model
      image: registry.example.com/beta/eval@sha256:7777777777777777777777777777777777777777777777777777777777777777
      code: {repo: https://git.example.com/beta/eval.git, commit: a777777777777777777777777777777777777777}
      args: ["--model", "${inputs.model}", "--score", "${outputs.score}"]
      metrics: [score]
      gates: ["score >= -0.5"]
  serving:
    fit:
      model: steps.check.outputs.model
      gates: [fit-check]
      runtime: {kserve: {format: sklearn}}
""",
}


def _project_keys(root: Path) -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in (root / "specs").glob("*/*.yaml"))


def _monitor_keys(root: Path) -> list[str]:
    """`<team>/<project>#monitor-<serving>` for each serving target with monitoring.evaluate."""
    keys = []
    for path in sorted((root / "specs").glob("*/*.yaml")):
        spec = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("spec") or {}
        for serving, target in sorted((spec.get("serving") or {}).items()):
            if (target.get("monitoring") or {}).get("evaluate"):
                keys.append(f"{path.parent.name}/{path.stem}#monitor-{serving}")
    return keys


EDGE_KEYS = sorted(f"{Path(p).parent.name}/{Path(p).stem}" for p in EDGE_FILES if p.startswith("specs/"))
PROJECTS = ([("bundled", k) for k in _project_keys(REPO)] + [("examples", k) for k in _project_keys(EXAMPLES)]
            + [("edge", k) for k in EDGE_KEYS])
PROJECT_IDS = [f"{corpus}:{key}" for corpus, key in PROJECTS]
# Continuous evaluations are pipelines of their own, held to the same conformance tests.
MONITORS = [("bundled", k) for k in _monitor_keys(REPO)] + [("examples", k) for k in _monitor_keys(EXAMPLES)]
PIPELINES = PROJECTS + MONITORS
PIPELINE_IDS = PROJECT_IDS + [f"{corpus}:{key}" for corpus, key in MONITORS]


@dataclass
class Emitted:
    """One project's KFP output."""

    key: str
    project: object  # LoadedProject
    checked: object  # CheckedRepository
    ir_path: Path  # the IR, written where kfp can load it
    ir_text: str
    ir: list  # parsed IR documents: [PipelineSpec] or [PipelineSpec, PlatformSpec]
    pipeline: dict  # the Pipeline object
    version: dict  # the PipelineVersion object
    paths: list  # the output paths of its documents
    monitor: str | None = None  # the serving target, for a continuous evaluation's pipeline

    @property
    def spec(self) -> dict:
        return self.ir[0]

    @property
    def platform(self) -> dict | None:
        return self.ir[1] if len(self.ir) > 1 else None


def write_edge_repo(root: Path) -> Path:
    for rel, text in EDGE_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text.lstrip("\n"), encoding="utf-8")
    return root


def emit_repository(root: Path, out: Path) -> dict[str, Emitted]:
    """Compile `root` with the KFP back end alone; fails on any error diagnostic."""
    from compiler.backends import kfp
    from compiler.build import Layout, load_and_check
    from compiler.output.serialize import serialize

    checked = load_and_check(Layout(root))
    errors = [d for d in checked.diagnostics if d.is_error]
    assert not errors, errors
    documents = kfp.emit(checked)
    emitted = {}
    for project in checked.projects:
        mine = [d for d in documents if d.owner == project.key]
        for ir_doc in (d for d in mine if d.path.startswith("kfp/")):
            text = serialize(ir_doc).decode("utf-8")
            path = out / ir_doc.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            ir_documents = list(yaml.safe_load_all(text))
            name = ir_documents[0]["pipelineInfo"]["name"]
            objects = [d for d in mine if d.path.startswith("deploy/")
                       and name in (d.content["metadata"]["name"], d.content["spec"].get("pipelineName"))]
            by_kind = {d.content["kind"]: d.content for d in objects}
            monitor = ir_doc.path.rpartition("/monitor-")[2].removesuffix(".yaml") if "/monitor-" in ir_doc.path else None
            key = project.key if monitor is None else f"{project.key}#monitor-{monitor}"
            emitted[key] = Emitted(key, project, checked, path, text, ir_documents, by_kind["Pipeline"],
                                   by_kind["PipelineVersion"], [ir_doc.path] + [d.path for d in objects], monitor)
    return emitted


@pytest.fixture(scope="session")
def kfp_corpora(tmp_path_factory) -> dict[str, dict[str, Emitted]]:
    base = tmp_path_factory.mktemp("kfp")
    edge = write_edge_repo(base / "edge-repo")
    return {name: emit_repository(root, base / f"{name}-out")
            for name, root in (("bundled", REPO), ("examples", EXAMPLES), ("edge", edge))}


@pytest.fixture
def emitted(kfp_corpora, request) -> Emitted:
    corpus, key = request.param
    return kfp_corpora[corpus][key]



def split_header(text: str) -> tuple[list, str]:
    """The comment header as comparable lines, and the YAML body. A dict default in the header
    is compared as a value: kfp prints it in protobuf map order, which changes from one process
    to the next, where the back end sorts it."""
    lines = text.splitlines(keepends=True)
    count = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    header = []
    for line in lines[:count]:
        default = re.search(r" \[Default: (\{.*\})\]$", line)
        header.append((line[:default.start()], ast.literal_eval(default[1])) if default else line)
    return header, "".join(lines[count:])
