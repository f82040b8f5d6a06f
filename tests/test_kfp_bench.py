"""The KFP benchmark runs, and kfp compiles each synthetic project to the same document as ours.

Timings are not asserted (tests never assert wall-clock times). What is: the comparison ran (exit
2 would mean the two sides did not produce the same pipeline, which would make the benchmark
meaningless), and the exit status is the verdict the benchmark printed from its own numbers: 0
exactly when the in-memory ratio it reports reaches the 10x goal, 1 when it misses it."""

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
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("6 pipelines, 6-7 tasks each"), err.getvalue()
    assert [line.split()[0:2] for line in lines[2:4]] == [["in", "memory"], ["to", "a"]]
    verdict = lines[-1].removeprefix("goal (in memory >= 10x): ")
    assert verdict in ("met", "NOT met"), lines[-1]
    ratio = float(lines[2].split()[-1].rstrip("x"))  # as printed, to one decimal
    if abs(ratio - 10) > 0.05:  # the verdict follows from the printed ratio
        assert verdict == ("met" if ratio >= 10 else "NOT met"), lines
    assert code == (0 if verdict == "met" else 1), err.getvalue()


def test_a_missed_goal_exits_1(monkeypatch):
    """The same run with a clock under which both sides take the same time (ratio 1x): the
    benchmark must say the goal is missed and exit 1, so a slow back end can fail CI by hand."""
    spec = importlib.util.spec_from_file_location("kfp_bench", REPO / "bench" / "kfp_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "best_of", lambda repeat, fn: (fn(), 0.001)[1])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = bench.main(["--projects", "2", "--repeat", "1"])
    lines = out.getvalue().splitlines()
    assert lines[-1] == "goal (in memory >= 10x): NOT met"
    assert lines[2].split()[-1] == "1.0x"
    assert code == 1, err.getvalue()
