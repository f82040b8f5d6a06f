"""Front end and middle at scale: what every compile pays for the whole repository, even when
only one project changed (issue 13): loading (find, read and parse every spec, validate the
models, read evidence and the promotion history) and checking (the lineage graph and every rule).

    python bench/check_bench.py [--projects 1000] [--repeat 3] [--rounds 3] [--baseline DIR]

Generates a repository of --projects projects (bench/generate.py) and compiles it once with this
checkout's compiler, so that generated/ holds an inventory and a promotion history to read, as it
does in a real repository. Then, in a fresh interpreter per measurement, it times
`load_repository` and `check_repository` (best of --repeat in that process) with this checkout's
compiler and, with --baseline, with another compiler package (e.g. the one before this work:
`git archive <rev> compiler | tar -x -C /tmp/base`, then `--baseline /tmp/base`; it is put first
on the child's sys.path). The two alternate for --rounds rounds so that both see the same machine,
and the best of all is reported, with this/baseline ratios. Both must report the same diagnostics
and build the same lineage graph (compared by a digest of the diagnostics' codes, positions and
messages and of every node and edge with its attributes, in the graph's order); the bench fails
otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


# ----------------------------------------------------------------------- in the child process
def child(root: Path, repeat: int) -> dict:
    """Load and check `root` --repeat times with whichever compiler/ is first on sys.path."""
    import compiler
    from compiler.frontend.loader import load_repository
    from compiler.middle.check import check_repository

    load_s = check_s = float("inf")
    digest = diagnostics = None
    for _ in range(repeat):
        started = time.perf_counter()
        repo = load_repository(root, "specs", "mlopsc.yaml", out_dir="generated")
        loaded = time.perf_counter()
        checked = check_repository(repo)
        done = time.perf_counter()
        load_s, check_s = min(load_s, loaded - started), min(check_s, done - loaded)
        if digest is None:
            digest, diagnostics = _digest(checked), len(checked.diagnostics)
        del repo, checked  # the next run starts from the same heap, not one holding this result
    return {"compiler": str(Path(compiler.__file__).parent), "load_s": load_s, "check_s": check_s,
            "diagnostics": diagnostics, "digest": digest}


def _digest(checked) -> str:
    """sha256 of the diagnostics and of the lineage graph's nodes and edges, in order."""
    graph = checked.lineage.graph
    shown = "\n".join([f"{d.code} {d.position} {d.message}" for d in checked.diagnostics]
                      + [repr(n) for n in graph.nodes(data=True)]
                      + [repr(e) for e in graph.edges(data=True)])
    return hashlib.sha256(shown.encode()).hexdigest()


# ----------------------------------------------------------------------- in the parent process
def measure(package_parent: Path, root: Path, repeat: int) -> dict:
    code = (f"import sys; sys.path.insert(0, {str(package_parent)!r}); sys.path.insert(1, {str(BENCH)!r}); "
            f"import json, check_bench; print(json.dumps(check_bench.child(__import__('pathlib').Path("
            f"{str(root)!r}), {repeat})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the measurement with {package_parent} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(result["compiler"]).parent != package_parent:
        raise SystemExit(f"measured {result['compiler']}, not the compiler in {package_parent}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="load and check this often per process")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per compiler")
    parser.add_argument("--baseline", type=Path, help="directory holding an older compiler/ package")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from generate import generate

    compilers = {"this": REPO}
    if args.baseline:
        compilers["baseline"] = args.baseline.resolve()
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mlopsc-check-bench-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, args.projects)
        proc = subprocess.run([sys.executable, "-m", "compiler", "-C", str(root), "compile"], cwd=REPO,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the first compile failed:\n{proc.stdout}{proc.stderr}")
        for _ in range(args.rounds):
            for label, parent in compilers.items():
                result = measure(parent, root, args.repeat)
                kept = best.setdefault(label, result)
                kept["load_s"] = min(kept["load_s"], result["load_s"])
                kept["check_s"] = min(kept["check_s"], result["check_s"])
    print(f"{args.projects} projects; best of {args.rounds} processes x {args.repeat} runs")
    print(f"{'compiler':10s} {'load s':>8s} {'check s':>8s} {'total s':>8s}  diagnostics")
    for label, r in best.items():
        print(f"{label:10s} {r['load_s']:8.3f} {r['check_s']:8.3f} {r['load_s'] + r['check_s']:8.3f}  "
              f"{r['diagnostics']}  ({r['compiler']})")
    if "baseline" in best:
        this, base = best["this"], best["baseline"]
        print(f"{'this/base':10s} {this['load_s'] / base['load_s']:8.2f} {this['check_s'] / base['check_s']:8.2f} "
              f"{(this['load_s'] + this['check_s']) / (base['load_s'] + base['check_s']):8.2f}")
        if this["digest"] != base["digest"]:
            print("the two compilers report different diagnostics")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
