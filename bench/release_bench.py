"""Benchmark: from evidence to a pushed proposal branch (`mlopsc release propose`), bundled repository.

    python bench/release_bench.py [--repeat 5] [--transport file|git-daemon]

Builds a bare Git repository from this checkout's mlopsc.yaml, specs/, evidence/ and generated/
(with gitops.writeBack set and compiled) once, then, --repeat times, deletes the proposal branch
and times one `mlopsc release propose` of a passing fraud-detection run, as a separate process (what
the release task does): fetch --depth 1, splice, full checks, compile, plan against the base,
commit, ls-remote, push. Prints the median and the best. Exit 0 unless a proposal failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MLOPSC = [sys.executable, "-m", "compiler"]
BRANCH = "mlopsc/release/risk-fraud-detection-fraud-api-run-0999"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com", "PYTHONPATH": str(REPO)}


def sh(*args, cwd=None):
    subprocess.run(args, cwd=cwd, check=True, env=ENV, stdout=subprocess.DEVNULL)


def build_remote(tmp: Path) -> Path:
    work = tmp / "work"
    work.mkdir()
    for name in ("mlopsc.yaml", "specs", "evidence", "generated"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, work / name)
    config = work / "mlopsc.yaml"
    text = config.read_text()
    text = text.replace("  argocdNamespace: argocd\n", "  argocdNamespace: argocd\n  writeBack:\n"
                        "    credentials: {secret: mlopsc-git, key: token}\n")
    if "releaseImage:" not in text:
        text = text.replace("kubeflow:\n", "kubeflow:\n  releaseImage: registry.example.com/platform/"
                            "mlopsc@sha256:" + "ab" * 32 + "\n")
    config.write_text(text)
    sh(*MLOPSC, "compile", cwd=work)
    sh("git", "init", "-q", "-b", "main", cwd=work)
    sh("git", "add", "-A", cwd=work)
    sh("git", "commit", "-q", "-m", "base", cwd=work)
    sh("git", "clone", "-q", "--bare", str(work), str(tmp / "srv" / "platform.git"))
    return tmp / "srv" / "platform.git"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--transport", choices=["file", "git-daemon"], default="file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlopsc-release-bench-") as name:
        tmp = Path(name)
        remote = build_remote(tmp)
        evidence = tmp / "evidence.json"
        evidence.write_text(json.dumps({
            "project": "risk/fraud-detection", "serving": "fraud-api",
            "model": {"uri": "s3://risk-models/fraud/run-0999/", "digest": "sha256:" + "99" * 32},
            "metrics": {"auc": 0.96, "recall_at_1pct_fpr": 0.62, "p95_latency_ms": 30.0},
            "lineage": {"run": "run-0999"}}, indent=2) + "\n")
        daemon = None
        url = f"file://{remote}"
        if args.transport == "git-daemon":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            daemon = subprocess.Popen(["git", "daemon", "--enable=receive-pack", f"--base-path={remote.parent}",
                                       "--export-all", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                                       str(remote.parent)])
            time.sleep(0.5)
            url = f"git://127.0.0.1:{port}/platform.git"
        try:
            times = []
            for _ in range(args.repeat):
                subprocess.run(["git", "update-ref", "-d", f"refs/heads/{BRANCH}"], cwd=remote, env=ENV)
                start = time.perf_counter()
                proc = subprocess.run([*MLOPSC, "release", "propose", "--evidence", str(evidence),
                                       "--repo", url, "--revision", "main"], cwd=tmp, env=ENV,
                                      capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                if proc.returncode != 0 or "pushed " not in proc.stderr:
                    print(proc.stderr, file=sys.stderr)
                    return 1
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait()
    print(f"evidence → pushed branch ({args.transport}, bundled repository, {args.repeat} runs): "
          f"median {statistics.median(times):.2f}s, best {min(times):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
