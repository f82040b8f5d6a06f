"""Start-up benchmark (issue 13, goal 4): `mlopsc compile --check` on the bundled specs in a fresh
clone against `python -c 'import kfp'`, each a whole process.

    python bench/startup_bench.py [--runs 15] [--compiler DIR]

The bundled mlopsc.yaml, specs/, evidence/ and generated/ are copied into a temporary directory
without `.mlopsc/` (a fresh clone: no fingerprint, so the check loads, checks, emits and
serialises everything). The two commands run alternately, --runs times each, so that both see the
same machine; the goal is the ratio of the wall-clock medians <= 0.6. CPU time (user + system)
is reported too: on a shared machine it moves less than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL = 0.6


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compiler", type=Path, default=REPO / "compiler",
                        help="the compiler package to run (e.g. an older one from `git archive`)")
    args = parser.parse_args(argv)
    mlopsc = [sys.executable, "-m", "compiler", "compile", "--check"]
    kfp = [sys.executable, "-c", "import kfp"]
    with tempfile.TemporaryDirectory(prefix="mlopsc-startup-") as tmp:
        clone = Path(tmp)
        for name in ("mlopsc.yaml", "specs", "evidence", "generated"):
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, clone / name)
        # `python -m compiler` must find this checkout, as an installed mlopsc would.
        (clone / "compiler").symlink_to(args.compiler.resolve())
        # Bytecode as an installed package has it (pip compiles it), in a cache of our own: with
        # PYTHONDONTWRITEBYTECODE, every run would compile mlopsc's sources again (0.2 s) while
        # kfp's come compiled from site-packages. One warm-up run of each fills the cache.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(clone / ".pycache")
        ours, theirs = [], []
        for i in range(args.runs + 1):
            shutil.rmtree(clone / ".mlopsc", ignore_errors=True)  # never the fingerprint's answer
            mine, kfps = timed(mlopsc, clone, env), timed(kfp, clone, env)
            if i:
                ours.append(mine)
                theirs.append(kfps)
    rows = {"mlopsc compile --check": ours, "python -c 'import kfp'": theirs}
    print(f"{'':26}{'wall median':>12}{'wall min':>10}{'CPU median':>12}{'CPU min':>10}")
    for label, runs in rows.items():
        wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{label:26}{statistics.median(wall):12.3f}{min(wall):10.3f}{statistics.median(cpu):12.3f}{min(cpu):10.3f}")
    ratios = {f"{what} {stat.__name__}": stat(r[i] for r in ours) / stat(r[i] for r in theirs)
              for i, what in enumerate(("wall", "CPU")) for stat in (statistics.median, min)}
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    ratio = ratios["wall median"]
    print(f"goal: wall median ratio {ratio:.2f} <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'}")
    return 0 if ratio <= GOAL else 1

if __name__ == "__main__":
    sys.exit(main())
