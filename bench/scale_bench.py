"""Scale benchmark: full compile, no-change --check and peak memory at N projects, against a floor.

    python bench/scale_bench.py [--sizes 250 500 1000 2000] [--repeat 3] [--json bench/out/scale.json]

For each N, bench/generate.py writes a repository of N projects across teams with cross-team
edges. Then, each in a fresh interpreter so that imports and memory are measured as a user meets
them:

- full compile: `mlopsc compile` into an empty generated/;
- no-change check: `mlopsc compile --check` right after (exit 0), which the last compile's
  fingerprint answers (compiler/output/fingerprint.py), as on a developer's machine;
- cold no-change check: the same without the fingerprint, as in CI's fresh clone;
- no-change compile: `mlopsc compile` again (nothing to write);
- the floor, in one process that also times each stage: parsing the same spec files with
  yaml.CSafeLoader, and dumping the same output documents with yaml.CSafeDumper. This is the
  least any compiler that reads these specs and writes these documents as YAML must spend.

Each measurement is the best of --repeat runs (the machine is shared; the minimum is the least
disturbed). Goals (issue 5): full compile <= 3x the floor, no-change check <= 0.5x a full compile,
and time linear in N from 250 to 2,000 (the log-log slope of compile time against N near 1).
Exit status: 0 every size met both ratio goals, 1 a goal was missed at some size (the report says
which); the slope is reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
GOALS = {"compile_vs_floor": 3.0, "check_vs_compile": 0.5}


# ----------------------------------------------------------------------- in the child process
def child(mode: str, root: Path) -> dict:
    """Run one measurement in this (fresh) process and return its numbers."""
    started = time.perf_counter()
    if mode in ("compile", "check"):
        from compiler.cli import main

        imported = time.perf_counter()
        args = ["-C", str(root), "compile"] + (["--check"] if mode == "check" else [])
        code = main(args)
        done = time.perf_counter()
        return {"code": code, "seconds": done - started, "import_seconds": imported - started,
                "peak_rss_mb": _peak_rss_mb()}
    if mode == "stages":
        return _stages(root)
    raise ValueError(mode)


def _stages(root: Path) -> dict:
    import yaml

    from compiler.build import Layout, emit_documents, render_files
    from compiler.frontend.loader import discover_spec_files, load_repository
    from compiler.middle.check import check_repository
    from compiler.output.writer import write_tree

    times: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        times[name] = time.perf_counter() - t
        return result

    where = Layout(root)
    repo = timed("load", load_repository, root, where.specs, where.config, out_dir=where.out)
    checked = timed("check", check_repository, repo)
    documents = timed("emit", emit_documents, checked)
    files = timed("serialize", render_files, documents)
    owners = {d.path: d.owner for d in documents if d.owner is not None}
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        timed("write", write_tree, Path(tmp) / "generated", files, owners)
    # The floor: the same specs parsed, the same documents dumped, by libyaml.
    specs = [p.read_bytes() for p in discover_spec_files(root, where.specs)]
    t = time.perf_counter()
    for raw in specs:
        yaml.load(raw, Loader=yaml.CSafeLoader)
    times["floor_parse"] = time.perf_counter() - t
    t = time.perf_counter()
    for doc in documents:
        contents = doc.content if doc.format == "yaml-stream" else [doc.content]
        yaml.dump_all(contents, Dumper=yaml.CSafeDumper, sort_keys=doc.sort_keys, allow_unicode=True)
    times["floor_dump"] = time.perf_counter() - t
    times["floor"] = times["floor_parse"] + times["floor_dump"]
    return {"stages": times, "files": len(files), "bytes": sum(map(len, files.values())),
            "spec_bytes": sum(map(len, specs)), "documents": len(documents)}


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# ---------------------------------------------------------------------- in the parent process
def measure(mode: str, root: Path) -> dict:
    os.sync()  # start with nothing pending on the disk from the previous measurement
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", mode, str(root)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} at {root} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.splitlines()[-1])
    if mode in ("compile", "check") and result["code"] != 0:
        raise SystemExit(f"mlopsc {mode} exited {result['code']}:\n{proc.stderr}")
    return result


def best(runs: list[dict], key: str) -> float:
    return min(r[key] for r in runs)


def bench_size(n: int, repeat: int, workdir: Path) -> dict:
    sys.path.insert(0, str(BENCH))
    from generate import generate

    root = workdir / f"n{n}"
    generate(root, n)
    out = root / "generated"
    # Earlier trees are moved aside, not deleted, until the end: deleting ~100 MB of small files
    # keeps this file system busy for seconds afterwards (a fresh clone has nothing to delete).
    aside = workdir / f"n{n}-previous"
    aside.mkdir()
    compiles = []
    for i in range(repeat):
        if out.exists():
            out.rename(aside / str(i))
        compiles.append(measure("compile", root))
    checks = [measure("check", root) for _ in range(repeat)]
    recompiles = [measure("compile", root) for _ in range(repeat)]
    fingerprint = root / ".mlopsc" / "generated.fingerprint.json"
    saved = fingerprint.read_bytes()
    fingerprint.unlink()
    cold_checks = [measure("check", root) for _ in range(repeat)]
    fingerprint.write_bytes(saved)
    stages = [measure("stages", root) for _ in range(repeat)]
    stage_names = stages[0]["stages"]
    fastest = {k: min(s["stages"][k] for s in stages) for k in stage_names}
    result = {
        "projects": n,
        "files": stages[0]["files"], "output_mb": stages[0]["bytes"] / 1e6,
        "spec_mb": stages[0]["spec_bytes"] / 1e6,
        "compile_s": best(compiles, "seconds"),
        "compile_median_s": statistics.median(r["seconds"] for r in compiles),
        "import_s": best(compiles, "import_seconds"),
        "check_s": best(checks, "seconds"),
        "cold_check_s": best(cold_checks, "seconds"),
        "recompile_s": best(recompiles, "seconds"),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in compiles),
        "check_peak_rss_mb": max(r["peak_rss_mb"] for r in checks),
        "stages_s": fastest,
        "floor_s": fastest["floor"],
    }
    result["compile_vs_floor"] = result["compile_s"] / result["floor_s"]
    result["check_vs_compile"] = result["check_s"] / result["compile_s"]
    result["cold_check_vs_compile"] = result["cold_check_s"] / result["compile_s"]
    shutil.rmtree(root)
    shutil.rmtree(aside)
    return result


def slope(results: list[dict]) -> float:
    """Least-squares slope of log(compile time) against log(N): 1.0 is linear."""
    xs = [math.log(r["projects"]) for r in results]
    ys = [math.log(r["compile_s"]) for r in results]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def report(results: list[dict]) -> str:
    lines = ["| N | files | MB | compile s | floor s | compile/floor | check s | check/compile | "
             "cold check s | cold/compile | recompile s | peak RSS MB | ms/project |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['projects']} | {r['files']} | {r['output_mb']:.0f} | {r['compile_s']:.2f} | "
                     f"{r['floor_s']:.2f} | {r['compile_vs_floor']:.2f} | {r['check_s']:.2f} | "
                     f"{r['check_vs_compile']:.2f} | {r['cold_check_s']:.2f} | {r['cold_check_vs_compile']:.2f} | "
                     f"{r['recompile_s']:.2f} | {r['peak_rss_mb']:.0f} | {1000 * r['compile_s'] / r['projects']:.2f} |")
    lines.append("")
    names = list(results[0]["stages_s"])
    lines.append("| N | " + " | ".join(names) + " |")
    lines.append("|---:|" + "---:|" * len(names))
    for r in results:
        lines.append(f"| {r['projects']} | " + " | ".join(f"{r['stages_s'][k]:.2f}" for k in names) + " |")
    if len(results) > 1:
        first, last = results[0], results[-1]
        lines.append("")
        lines.append(f"linearity: compile time x{last['compile_s'] / first['compile_s']:.2f} for "
                     f"x{last['projects'] / first['projects']:.0f} projects; log-log slope {slope(results):.2f}")
    for r in results:
        verdict = ", ".join(f"{k} {r[k]:.2f} {'<=' if r[k] <= goal else '>'} {goal} "
                            f"({'met' if r[k] <= goal else 'NOT met'})" for k, goal in GOALS.items())
        lines.append(f"N={r['projects']}: {verdict}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=BENCH / "out" / "scale.json")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="mlopsc-bench-") as tmp:
        for n in sorted(args.sizes):
            results.append(bench_size(n, args.repeat, Path(tmp)))
            print(f"N={n}: compile {results[-1]['compile_s']:.2f}s, check {results[-1]['check_s']:.2f}s, "
                  f"floor {results[-1]['floor_s']:.2f}s", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": results, "goals": GOALS,
                                     "slope": slope(results) if len(results) > 1 else None},
                                    indent=2, sort_keys=True) + "\n")
    sys.stdout.write(report(results))
    missed = missed_goals(results)
    print("goals: " + ("all met" if not missed else "NOT met: " + ", ".join(missed)))
    return 1 if missed else 0


def missed_goals(results: list[dict]) -> list[str]:
    """`N=<n> <goal>` for every goal a size did not meet."""
    return [f"N={r['projects']} {k}" for r in results for k, goal in GOALS.items() if r[k] > goal]


if __name__ == "__main__":
    sys.exit(main())
