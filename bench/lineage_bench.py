"""Repository-wide files that scale (issue 13, goal 5): file sizes, what a one-project change
rewrites, and how long the lineage index page takes to render in headless Chromium.

    python bench/lineage_bench.py [--projects 1000] [--baseline DIR]

Generates a repository of --projects projects (bench/generate.py), compiles it with this checkout's
compiler and, with --baseline, with another compiler package (e.g. the one before this work:
`git archive <rev> compiler | tar -x -C /tmp/base`, then `--baseline /tmp/base`), each into its
own output directory. For each it reports the largest generated files, then changes one parameter
of one project's spec, compiles again and counts the files (and bytes) whose content changed.
Finally it loads `lineage/index.html` (and the largest lineage page) in Debian's headless Chromium
(/usr/bin/chromium, the one the suite's browser tests use) and times the load until two animation
frames have been painted, best of --repeat. Goals: no generated file over 2 MB, the index page in
<= 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LIMIT_MB, RENDER_S = 2.0, 1.0


def compile_with(package_parent: Path, root: Path, out: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    started = time.perf_counter()
    # From the package's parent: `python -m` puts the working directory first on the path.
    proc = subprocess.run([sys.executable, "-m", "compiler", "-C", str(root), "--out", out, "compile"],
                          env=env, cwd=package_parent, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"compile failed:\n{proc.stderr}")
    return time.perf_counter() - started


def tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.rglob("*") if p.is_file()}


def render_seconds(path: Path, repeat: int) -> float:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mlopsc-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", f"--user-data-dir={profile}", "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        best = float("inf")
        for _ in range(repeat):
            driver.get("about:blank")
            started = time.perf_counter()
            driver.get(path.as_uri())  # returns after the load event
            driver.execute_async_script("const done = arguments[0];"
                                        "requestAnimationFrame(() => requestAnimationFrame(() => done()));")
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def measure(label: str, package_parent: Path, root: Path, out: str, repeat: int) -> dict:
    seconds = compile_with(package_parent, root, out)
    out_dir = root / out
    sizes = sorted(((p.stat().st_size, p.relative_to(out_dir).as_posix()) for p in out_dir.rglob("*")
                    if p.is_file()), reverse=True)
    before = tree(out_dir)
    spec = next(iter(sorted((root / "specs").rglob("*.yaml"))))
    original = spec.read_text(encoding="utf-8")
    spec.write_text(original.replace("learning_rate: 0.05", "learning_rate: 0.07", 1), encoding="utf-8")
    try:
        compile_with(package_parent, root, out)
    finally:
        spec.write_text(original, encoding="utf-8")
    after = tree(out_dir)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    lineage = out_dir / "lineage"
    pages = sorted(lineage.rglob("*.html"), key=lambda p: p.stat().st_size)
    return {"label": label, "compile_s": seconds, "largest": sizes[:4],
            "over_limit": [(s, p) for s, p in sizes if s > LIMIT_MB * 1e6],
            "changed": changed, "changed_mb": sum((out_dir / p).stat().st_size for p in changed
                                                  if (out_dir / p).exists()) / 1e6,
            "index_s": render_seconds(lineage / "index.html", repeat),
            "largest_page": (pages[-1].relative_to(out_dir).as_posix(), pages[-1].stat().st_size,
                             render_seconds(pages[-1], repeat))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--baseline", type=Path, help="directory holding an older compiler/ package")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--current", type=Path, default=REPO,
                        help="directory holding the compiler/ package to measure (default: this checkout)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from generate import generate

    results = []
    with tempfile.TemporaryDirectory(prefix="mlopsc-lineage-bench-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, args.projects)
        if args.baseline:
            results.append(measure("baseline", args.baseline.resolve(), root, "generated-baseline", args.repeat))
        results.append(measure("this checkout", args.current.resolve(), root, "generated", args.repeat))
    ok = True
    for r in results:
        print(f"== {r['label']} ({args.projects} projects; compile {r['compile_s']:.1f} s)")
        for size, path in r["largest"]:
            print(f"   {size / 1e6:8.2f} MB  {path}")
        print(f"   files over {LIMIT_MB} MB: {len(r['over_limit'])}"
              + "".join(f"\n     {s / 1e6:.2f} MB {p}" for s, p in r["over_limit"]))
        print(f"   one-project change rewrote {len(r['changed'])} files, {r['changed_mb']:.2f} MB:")
        for path in r["changed"]:
            print(f"     {path}")
        page, size, seconds = r["largest_page"]
        print(f"   lineage/index.html renders in {r['index_s']:.2f} s; largest page {page} "
              f"({size / 1e6:.2f} MB) in {seconds:.2f} s")
    last = results[-1]
    ok = not last["over_limit"] and last["index_s"] <= RENDER_S
    print(f"goal: no file over {LIMIT_MB} MB ({'met' if not last['over_limit'] else 'NOT met'}), "
          f"index page <= {RENDER_S} s ({'met' if last['index_s'] <= RENDER_S else 'NOT met'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
