"""Goals 1 and 6 of issue 13: a one-spec change recompiles, and a pull request's drift check with
the CI cache runs, in a small fraction of a full compile.

    python bench/incremental_bench.py [--projects 1000] [--edits 5] [--repeat 2] [--jobs N]

One generated repository of `--projects` projects (bench/generate.py). Every figure is a whole
process (`python -m compiler`), timed with the others in the same run:

- full: `mlopsc compile` into a missing generated/ with no `.mlopsc/` (a fresh clone), best of
  `--repeat`;
- one-spec edit: a parameter of one project's spec changed, then `mlopsc compile` with the local
  caches of the compiles before it (as on a developer's machine); median over `--edits` edits of
  different projects; after them, a copy compiled from scratch must hold the same bytes;
- cold check: `mlopsc compile --check` in a fresh clone of a pull request that changed one spec
  and committed its compile (what CI runs without a cache);
- cached check: the same with `--cache DIR`, DIR filled by the default branch's check (goal 6).

Goals: one-spec edit ≤ 0.1× full; cached check ≤ 0.15× full. Exit 0 when both are met, 1 when
not, 2 when the output differed (a bug).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/generate.py)


def mlopsc(root: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "compiler", "-C", str(root), *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mlopsc {' '.join(args)} failed:\n{proc.stderr.decode()}")
    return elapsed


def clone(src: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".mlopsc"))
    return dest


def edit_one(root: Path, index: int) -> str:
    specs = sorted((root / "specs").rglob("*.yaml"))
    path = specs[(index * 337) % len(specs)]
    text = path.read_text()
    path.write_text(re.sub(r"max_depth: (\d+)", lambda m: f"max_depth: {int(m[1]) + 1}", text, count=1))
    return path.relative_to(root).as_posix()


def same_tree(a: Path, b: Path) -> bool:
    compared = filecmp.dircmp(a, b)
    stack = [compared]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.diff_files or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(c.subdirs.values())
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=None, help="compile --jobs (default: mlopsc's)")
    args = parser.parse_args()
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    work = Path(tempfile.mkdtemp(prefix="mlopsc-incremental-"))
    try:
        base = work / "base"
        generate.generate(base, args.projects)
        full = []
        for i in range(args.repeat):
            fresh = clone(base, work / f"full{i}")
            full.append(mlopsc(fresh, "compile", *jobs))
        full_s = min(full)

        # Goal 1: a developer's edit loop, with the caches of the compiles before.
        dev = clone(base, work / "dev")
        mlopsc(dev, "compile", *jobs)
        edits = []
        for i in range(args.edits):
            edit_one(dev, i)
            edits.append(mlopsc(dev, "compile", *jobs))
        scratch = clone(dev, work / "scratch")
        shutil.rmtree(scratch / "generated")
        shutil.copytree(work / "full0" / "generated", scratch / "generated")  # the tree before the edits
        mlopsc(scratch, "compile", *jobs)
        if not same_tree(dev / "generated", scratch / "generated"):
            print("one-spec edits: generated/ differs from a compile from scratch", file=sys.stderr)
            return 2
        edit_s = statistics.median(edits)

        # Goal 6: the drift gate in CI, with and without the cache the default branch wrote.
        cache = work / "ci-cache"
        main_clone = clone(work / "full0", work / "main")
        mlopsc(main_clone, "compile", "--check", "--cache", str(cache), *jobs)  # the default branch
        pr = clone(work / "full0", work / "pr")
        edit_one(pr, 1)
        mlopsc(pr, "compile", *jobs)  # the pull request commits its compile
        cold, cached = [], []
        for i in range(args.repeat):
            cold.append(mlopsc(clone(pr, work / f"pr-cold{i}"), "compile", "--check", *jobs))
            cached.append(mlopsc(clone(pr, work / f"pr-cached{i}"), "compile", "--check", "--cache",
                                 str(cache), *jobs))
        cold_s, cached_s = min(cold), min(cached)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.projects} projects; whole processes; full and checks best of {args.repeat}, "
          f"edits median of {args.edits}")
    print(f"  full compile (fresh clone)          {full_s:7.2f}s")
    print(f"  one-spec edit, local caches         {edit_s:7.2f}s   {edit_s / full_s:5.2f}x full   (goal <= 0.10)")
    print(f"  PR check, fresh clone, no cache     {cold_s:7.2f}s   {cold_s / full_s:5.2f}x full")
    print(f"  PR check, fresh clone, --cache      {cached_s:7.2f}s   {cached_s / full_s:5.2f}x full   (goal <= 0.15)")
    print(f"  edits: {', '.join(f'{t:.2f}' for t in edits)}")
    met = edit_s <= 0.10 * full_s and cached_s <= 0.15 * full_s
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
