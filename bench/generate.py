"""Generate a synthetic spec repository: N projects across teams, with cross-team edges.

    python bench/generate.py OUT --projects 1000 [--teams 20] [--seed 0]

Every project looks like a real one (two pinned sources, a features step, a training step, a
gated evaluation, a serving target released to staging and promoted to production, sometimes with
a canary) and about half of the training steps import a model another team released, so the
lineage graph has cross-team edges. Evidence files match the releases and pass every gate, and
their lineage matches the spec, so the repository compiles without errors or warnings.
Output is a pure function of the arguments (same arguments, same bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
KINDS = ("churn", "fraud", "recs", "forecast", "ranking", "pricing", "search", "vision")
TEAM_WORDS = ("risk", "growth", "search", "ads", "payments", "trust", "supply", "pricing", "maps",
              "care", "identity", "media")
FORMATS = ("xgboost", "sklearn", "lightgbm", "onnx", "pytorch")
# How far back a cross-team input may reach: keeps edges local, like teams that work together.
NEIGHBOURHOOD = 40


def team_names(count: int) -> list[str]:
    return [TEAM_WORDS[i % len(TEAM_WORDS)] + (f"-{i // len(TEAM_WORDS)}" if i >= len(TEAM_WORDS) else "")
            for i in range(count)]


def _hex(text: str, length: int = 64) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _image(team: str, key: str, what: str) -> str:
    return f"registry.example.com/{team}/{what}@sha256:{_hex(key + '/image/' + what)}"


def _code(key: str, what: str) -> dict:
    return {"repo": f"https://git.example.com/{key}.git", "commit": _hex(key + "/code/" + what, 40),
            "path": what}


def repository_config(teams: list[str]) -> dict:
    return {
        "apiVersion": "mlopsc.dev/v1", "kind": "Repository",
        "gitops": {"repoURL": "https://git.example.com/ml/platform.git", "targetRevision": "main",
                   "argocdNamespace": "argocd"},
        "kubeflow": {"pipelineRoot": "s3://ml-artifacts/pipelines",
                     "releaseImage": "registry.example.com/ml/mlopsc@sha256:" + _hex("release-image", 64)},
        "environments": {"staging": {"cluster": "https://kubernetes.default.svc"},
                         "production": {"cluster": "https://prod.k8s.example.com", "promotesFrom": "staging"}},
        "teams": {t: {} for t in teams},
        "policy": {"allowedRegistries": ["registry.example.com"], "requireDigests": True},
        "kserve": {"deploymentMode": "Standard"},
    }


def project(index: int, team: str, upstream: str | None, rng: random.Random) -> tuple[dict, dict[str, dict]]:
    """One project's spec and its evidence files (path -> record)."""
    name = f"{KINDS[index % len(KINDS)]}-{index:04d}"
    key = f"{team}/{name}"
    sources = {
        "events": {"uri": f"s3://{team}-lake/{name}/events/", "version": f"2026-11-{1 + index % 28:02d}",
                   "format": "parquet", "pii": index % 3 == 0},
        "labels": {"uri": f"bq://{team}.{name.replace('-', '_')}_labels",
                   "version": "sha256:" + _hex(key + "/labels")},
    }
    train_inputs = {"train": "steps.features.outputs.train"}
    if upstream:
        train_inputs["upstream"] = f"{upstream}:steps.train.outputs.model"
    steps = {
        "features": {
            "image": _image(team, key, "features"), "code": _code(key, "features"),
            "command": ["python", "-m", "features"],
            "inputs": {"events": "sources.events", "labels": "sources.labels"},
            "outputs": {"train": "dataset", "test": "dataset"},
            "params": {"window_days": 7 * (1 + index % 8)},
            "resources": {"cpu": "2", "memory": "8Gi"},
        },
        "train": {
            "image": _image(team, key, "train"), "code": _code(key, "train"),
            "command": ["python", "-m", "train"],
            "args": ["--train", "${inputs.train}", "--model-dir", "${outputs.model}",
                     "--max-depth", "${params.max_depth}"],
            "inputs": train_inputs,
            "outputs": {"model": "model"},
            "params": {"max_depth": 4 + index % 6, "learning_rate": 0.05},
            "resources": {"cpu": "4", "memory": "16Gi"} | ({"gpu": 1, "gpuType": "nvidia-l4"} if index % 5 == 0 else {}),
            "retries": index % 3,
            "timeout": "2h",
        },
    }
    evaluations = {
        "holdout": {
            "model": "steps.train.outputs.model", "inputs": {"test": "steps.features.outputs.test"},
            "image": _image(team, key, "evaluate"), "code": _code(key, "evaluate"),
            "command": ["python", "-m", "evaluate"],
            "metrics": ["auc", "p95_latency_ms"],
            "gates": ["auc >= 0.8", "p95_latency_ms <= 50"],
        },
    }
    evidence: dict[str, dict] = {}

    def release(run: int) -> dict:
        path = f"evidence/{key}/run-{run:04d}.json"
        uri = f"s3://{team}-models/{name}/run-{run:04d}/"
        digest = "sha256:" + _hex(f"{key}/model/{run}")
        evidence[path] = {
            "project": key, "serving": name, "model": {"uri": uri, "digest": digest},
            "metrics": {"auc": round(0.81 + rng.random() * 0.15, 3),
                        "p95_latency_ms": round(10 + rng.random() * 35, 1)},
            "lineage": {"code": {"features": steps["features"]["code"]["commit"],
                                 "train": steps["train"]["code"]["commit"],
                                 "holdout": evaluations["holdout"]["code"]["commit"]},
                        "sources": {s: str(v["version"]) for s, v in sources.items()},
                        "pipelineVersion": f"{name}-{_hex(key + str(run), 7)}", "run": f"run-{run:04d}"},
        }
        return {"uri": uri, "digest": digest, "evidence": path}

    current = 100 + index % 50
    staging: dict = {"release": release(current), "replicas": {"min": 1, "max": 2},
                     "resources": {"cpu": "1", "memory": "2Gi"}}
    if index % 4 == 1:
        staging["canary"] = {"percent": 10 * (1 + index % 3), "release": release(current + 1)}
    production = {"release": release(current), "replicas": {"min": 2, "max": 4 + index % 8},
                  "resources": {"cpu": "2", "memory": "4Gi"}}
    if index % 5 == 4:
        runtime = {"container": {"image": _image(team, key, "server"), "port": 8080}}
    else:
        runtime = {"kserve": {"format": FORMATS[index % len(FORMATS)]}}
    spec = {
        "apiVersion": "mlopsc.dev/v1", "kind": "MLProject",
        "metadata": {"name": name, "team": team, "owners": [f"{team}-ml@example.com"],
                     "description": f"Synthetic {KINDS[index % len(KINDS)]} model number {index}."},
        "spec": {
            "sources": sources, "steps": steps, "evaluations": evaluations,
            # A team's serving targets share its namespaces, so each is named after its project.
            "serving": {name: {"model": "steps.train.outputs.model", "gates": ["holdout"],
                                "runtime": runtime,
                                "environments": {"staging": staging, "production": production}}},
            "schedule": f"{index % 60} {index % 24} * * {index % 7}",
        },
    }
    return spec, evidence


def generate(root: Path, projects: int, teams: int | None = None, seed: int = 0) -> list[str]:
    """Write mlopsc.yaml, specs/ and evidence/ under `root`; returns the project keys."""
    teams = teams or max(2, min(projects // 50, 60))
    names = team_names(teams)
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "mlopsc.yaml", yaml.dump(repository_config(names), Dumper=_Dumper, sort_keys=False))
    keys: list[str] = []
    for i in range(projects):
        team = names[i % teams]
        # About half the projects train on a model another team released earlier in the list,
        # so edges only point forward and there is never a cycle.
        candidates = [k for k in keys[-NEIGHBOURHOOD:] if not k.startswith(team + "/")]
        upstream = rng.choice(candidates) if candidates and rng.random() < 0.5 else None
        spec, evidence = project(i, team, upstream, rng)
        key = f"{team}/{spec['metadata']['name']}"
        keys.append(key)
        _write(root / "specs" / f"{key}.yaml", yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=120))
        for path, record in evidence.items():
            _write(root / path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return keys


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to create the repository in")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--teams", type=int, help="default: one team per 50 projects (2 to 60)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    keys = generate(args.out, args.projects, args.teams, args.seed)
    print(f"wrote {len(keys)} projects to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
