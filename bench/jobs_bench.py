"""Cores and memory (issue 13, goals 3 and 2): a full compile of N projects with --jobs 1 against
--jobs N (default: the cores), each a whole process into a missing generated/, and the peak RSS of
each (the compile process and, separately, its largest worker).

    python bench/jobs_bench.py [--projects 1000] [--jobs 2] [--repeat 3] [--baseline DIR]

Runs alternate between the two settings so both see the same machine; each figure is the best of
--repeat. Both trees are compared byte for byte. With --baseline (a directory holding an older
compiler/ package, e.g. from `git archive`), that compiler's full compile is measured too (it has
no --jobs). Goals: --jobs 2 at least 1.6x faster than --jobs 1 on 2 cores; peak RSS of a full
compile of 1,000 projects <= 250 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from compiler.cli import main
code = main(sys.argv[1:])
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "seconds": time.perf_counter() - started,
                  "rss_mb": self_kb / 1024, "worker_rss_mb": children_kb / 1024}))
"""


def run(package_parent: Path, root: Path, jobs: int | None) -> dict:
    """One full compile into a missing generated/ (Argo CD Applications name --out, so every run
    writes to the same name); the tree is then moved aside, not deleted: deleting 16,000 files
    keeps the file system busy for seconds afterwards."""
    out = root / "generated"
    if out.exists():
        aside = root.parent / "aside"
        aside.mkdir(exist_ok=True)
        out.rename(aside / str(len(list(aside.iterdir()))))
    shutil.rmtree(root / ".mlopsc", ignore_errors=True)
    os.sync()
    args = ["-C", str(root), "compile"] + ([] if jobs is None else ["--jobs", str(jobs)])
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=package_parent,
                          env={**os.environ, "PYTHONPATH": str(package_parent)}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"compile failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.splitlines()[-1])
    result["wall"] = wall
    return result


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(out).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--current", type=Path, default=REPO,
                        help="directory holding the compiler/ package to measure (default: this checkout)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from generate import generate

    current = args.current.resolve()
    rows: dict[str, list[dict]] = {"jobs 1": [], f"jobs {args.jobs}": []}
    if args.baseline:
        rows["baseline"] = []
    with tempfile.TemporaryDirectory(prefix="mlopsc-jobs-bench-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, args.projects)
        trees = {}
        for _ in range(args.repeat):
            rows["jobs 1"].append(run(current, root, 1))
            trees["jobs 1"] = digest(root / "generated")
            rows[f"jobs {args.jobs}"].append(run(current, root, args.jobs))
            trees[f"jobs {args.jobs}"] = digest(root / "generated")
            if args.baseline:
                rows["baseline"].append(run(args.baseline.resolve(), root, None))
    print(f"{args.projects} projects, best of {args.repeat}")
    print(f"{'':10}{'wall s':>8}{'in-process s':>14}{'peak RSS MB':>13}{'worker RSS MB':>15}")
    for label, runs in rows.items():
        print(f"{label:10}{min(r['wall'] for r in runs):8.2f}{min(r['seconds'] for r in runs):14.2f}"
              f"{max(r['rss_mb'] for r in runs):13.0f}{max(r['worker_rss_mb'] for r in runs):15.0f}")
    one, many = min(r["wall"] for r in rows["jobs 1"]), min(r["wall"] for r in rows[f"jobs {args.jobs}"])
    identical = trees["jobs 1"] == trees[f"jobs {args.jobs}"]
    rss = max(r["rss_mb"] for r in rows[f"jobs {args.jobs}"])
    print(f"speed-up --jobs {args.jobs} over --jobs 1: {one / many:.2f}x (goal >= 1.6: "
          f"{'met' if one / many >= 1.6 else 'NOT met'}); trees identical: {identical}")
    print(f"peak RSS of the compile process: {rss:.0f} MB (goal <= 250: {'met' if rss <= 250 else 'NOT met'})")
    if args.baseline:
        base = min(r["wall"] for r in rows["baseline"])
        print(f"baseline full compile {base:.2f} s; --jobs {args.jobs} is {base / many:.2f}x faster")
    return 0 if identical else 2


if __name__ == "__main__":
    sys.exit(main())
