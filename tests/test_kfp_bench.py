"""The KFP benchmark runs, and kfp compiles each synthetic project to the same document as ours.

Timings are not asserted (tests never assert wall-clock times); the exit status 2 would mean the
two sides did not produce the same pipeline, which would make the benchmark meaningless."""

from __future__ import annotations

import contextlib
import importlib.util
import io

from conftest import REPO


def test_benchmark_compares_like_with_like():
    spec = importlib.util.spec_from_file_location("kfp_bench", REPO / "bench" / "kfp_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = bench.main(["--projects", "6", "--repeat", "1"])
    assert code in (0, 1), err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("6 pipelines, 6-7 tasks each")
    assert [line.split()[0:2] for line in lines[2:4]] == [["in", "memory"], ["to", "a"]]
