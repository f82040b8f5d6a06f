"""Repositories the serving and Argo CD tests compile, and a check that each compiles cleanly.

- `bundled`: this repository's specs; `examples`: ../shared/spec/examples (LANGUAGE.md's own);
- `containers`: the examples with merchant-recs released to staging as a container runtime with a
  canary, a GPU, env from a Secret, memory autoscaling and non-canonical quantities;
- `knative`: the examples in Knative mode, with scale to zero, concurrency and cpu autoscaling.

Each is compiled once per test process (`compiled(name)`); the documents are serialised and parsed
back, so tests see exactly the bytes that Argo CD would read.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO, copy_repo, edit

VARIANTS = ("bundled", "examples", "containers", "knative")
_WORKDIR = Path(tempfile.mkdtemp(prefix="mlopsc-serving-"))
atexit.register(shutil.rmtree, _WORKDIR, True)


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def write_evidence(root: Path, project: str, serving: str, run: str, metrics: dict, lineage: dict) -> str:
    """An evidence file for `run` (as the release task writes it); returns its repository path."""
    rel = f"evidence/{project}/{run}.json"
    record = {"project": project, "serving": serving,
              "model": {"uri": release_uri(project, run), "digest": digest(run)},
              "metrics": metrics, "lineage": {**lineage, "run": run}}
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return rel


def release_uri(project: str, run: str) -> str:
    return f"s3://{project.split('/')[0]}-models/{project.split('/')[1]}/{run}/"


RECS_LINEAGE = {"code": {"train": "d6fa298956aa3784840dbe300c6a7b43e9bb6eda",
                         "offline": "f8f90b0335d51b84e6ff3e78bba5ee7416af0f6a"},
                "sources": {"merchants": "2026-11-27",
                            "sessions": "sha256:82680da3382db0135597d730e9540550ce40c54edc37641ba80f2ef9d2d4bddc"}}


def release_block(root: Path, project: str, serving: str, run: str, indent: int, metrics: dict,
                  lineage: dict = RECS_LINEAGE) -> str:
    """YAML for `release:` (key included) at `indent` spaces, with its evidence written."""
    evidence = write_evidence(root, project, serving, run, metrics, lineage)
    pad = " " * indent
    return (f"{pad}release:\n{pad}  uri: {release_uri(project, run)}\n{pad}  digest: {digest(run)}\n"
            f"{pad}  evidence: {evidence}\n")


def make_containers(root: Path) -> Path:
    spec = root / "specs/growth/merchant-recs.yaml"
    good = {"ndcg_at_10": 0.35, "coverage": 0.91}
    edit(spec, "          port: 8080\n",
         "          port: 8080\n          args: [--workers, \"2\"]\n"
         "          env:\n            LOG_LEVEL: debug\n            RECS_API_TOKEN: {secret: recs-api, key: token}\n")
    edit(spec, "        staging:\n          replicas: {min: 1, max: 3}\n          resources: {cpu: \"500m\", memory: 1Gi}\n",
         "        staging:\n" + release_block(root, "growth/merchant-recs", "recs-api", "run-0007", 10, good)
         + "          canary:\n            percent: 25\n"
         + release_block(root, "growth/merchant-recs", "recs-api", "run-0009", 12, good)
         + "          replicas: {min: 2, max: 8}\n          autoscaling: {metric: memory, target: 70}\n"
           "          resources: {cpu: 0.5, memory: 1024Mi, gpu: 1, gpuType: nvidia-l4}\n")
    return root


def make_knative(root: Path) -> Path:
    edit(root / "mlopsc.yaml", "deploymentMode: Standard", "deploymentMode: Knative")
    spec = root / "specs/risk/fraud-detection.yaml"
    edit(spec, "replicas: {min: 1, max: 2}",
         "replicas: {min: 0, max: 2}\n          autoscaling: {metric: concurrency, target: 10}")
    edit(spec, "replicas: {min: 3, max: 12}", "replicas: {min: 3, max: 12}\n          autoscaling: {metric: cpu, target: 60}")
    return root


@functools.cache
def variant_root(name: str) -> Path:
    if name == "bundled":
        return REPO
    root = copy_repo(EXAMPLES, _WORKDIR / name)
    return {"examples": lambda r: r, "containers": make_containers, "knative": make_knative}[name](root)


@functools.cache
def compiled(name: str):
    """(checked repository, {path: parsed object} of every YAML document under deploy/)."""
    from compiler.build import Layout, emit_documents, load_and_check
    from compiler.output.serialize import serialize

    checked = load_and_check(Layout(variant_root(name)))
    errors = [d.headline() for d in checked.diagnostics if d.is_error]
    if errors:
        pytest.fail(f"variant {name} does not compile:\n" + "\n".join(errors))
    objects = {}
    for doc in emit_documents(checked):
        if doc.path.startswith("deploy/"):
            objects[doc.path] = list(yaml.safe_load_all(serialize(doc)))
    return checked, objects


def objects_of(name: str, kind: str | None = None, under: str = "deploy/") -> dict[str, dict]:
    """{path: object} for single-object files under `under`, optionally of one kind."""
    _, objects = compiled(name)
    return {path: docs[0] for path, docs in sorted(objects.items())
            if path.startswith(under) and len(docs) == 1 and (kind is None or docs[0].get("kind") == kind)}


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_compiles_without_errors_and_emits_serving_objects(name):
    checked, objects = compiled(name)
    assert not checked.has_errors
    serving = [p for p in objects if p.startswith("deploy/serving/")]
    assert serving, f"{name}: nothing under deploy/serving/"


def minimal_project(team: str, name: str, serving: str = "api", runtime: str = "container") -> str:
    """A small valid MLProject (one step, one gated evaluation, one serving target, no release)."""
    image = "registry.example.com/{team}/{part}@" + digest(f"{team}/{name}/{{part}}")
    runtime_yaml = ("container: {image: " + image.format(team=team, part="serve") + ", port: 8080}"
                    if runtime == "container" else "kserve: {format: sklearn}")
    return f"""apiVersion: mlopsc.dev/v1
kind: MLProject
metadata: {{name: {name}, team: {team}, owners: [{team}@example.com]}}
spec:
  sources:
    events: {{uri: s3://{team}-lake/events/, version: "2026-11-01"}}
  steps:
    train:
      image: {image.format(team=team, part="train")}
      code: {{repo: https://git.example.com/{team}/{name}.git, commit: {"a" * 40}}}
      inputs: {{events: sources.events}}
      outputs: {{model: model}}
  evaluations:
    check:
      model: steps.train.outputs.model
      image: {image.format(team=team, part="eval")}
      code: {{repo: https://git.example.com/{team}/{name}.git, commit: {"b" * 40}}}
      metrics: [auc]
      gates: ["auc >= 0.5"]
  serving:
    {serving}:
      model: steps.train.outputs.model
      gates: [check]
      runtime: {{{runtime_yaml}}}
"""


def add_project(root: Path, team: str, name: str, **kwargs) -> Path:
    path = root / "specs" / team / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(minimal_project(team, name, **kwargs), encoding="utf-8")
    return path


def test_minimal_project_is_valid(example_repo):
    from conftest import run_mlopsc

    add_project(example_repo, "growth", "churn")
    result = run_mlopsc("validate", cwd=example_repo)
    assert result.code == 0, result.out + result.err
