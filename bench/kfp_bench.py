"""Benchmark: the KFP back end against kfp's own compiler, pipeline by pipeline, in one process.

    python bench/kfp_bench.py [--projects 200] [--seed 0] [--repeat 3]

Generates a synthetic repository (bench/generate.py: 6-7 tasks per project: two importers, a
features and a training step, a gated evaluation, a release in a condition group, and for about
half the projects an importer of another team's model), checks it once, then times, for every
project, the best of --repeat runs of:

  in memory   mlopsc: `kfp.project_documents` - the IR plus the Pipeline and PipelineVersion
              objects (with the content hash), as the plain dicts the output stage writes.
              kfp: building the same pipeline with kfp's DSL (tests/kfp_dsl.py; the
              `@dsl.pipeline` decorator runs kfp's compiler into a PipelineSpec) and
              `MessageToDict` of it and of its PlatformSpec: the dicts kfp then writes.
  to a file   mlopsc: the above plus serialising the IR document (the shared output stage,
              PyYAML with libyaml) and writing it. kfp: DSL build plus `Compiler().compile`.

Before timing, every kfp output is checked to be the same document as ours (bar sdkVersion), so
both sides do the same job. The goal is the in-memory ratio >= 10x. Exit status: 0 goal met,
1 goal missed, 2 the comparison itself failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]


def best_of(repeat: int, action) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import yaml
    from google.protobuf import json_format

    import generate
    import kfp_dsl
    from compiler.backends import kfp as kfp_backend
    from compiler.build import Layout, load_and_check
    from compiler.output.serialize import serialize

    with tempfile.TemporaryDirectory(prefix="kfp-bench-") as tmp:
        repo, out = Path(tmp) / "repo", Path(tmp) / "out"
        out.mkdir()
        generate.generate(repo, args.projects, seed=args.seed)
        start = time.perf_counter()
        checked = load_and_check(Layout(repo))
        check_seconds = time.perf_counter() - start
        errors = [d for d in checked.diagnostics if d.is_error]
        if errors:
            print(f"the synthetic repository has {len(errors)} error(s), first: {errors[0]}", file=sys.stderr)
            return 2
        config = checked.config
        ours, ours_file, kfp_memory, kfp_file, tasks = [], [], [], [], []
        for index, project in enumerate(checked.projects):
            ours_path, theirs_path = out / f"{index}-mlopsc.yaml", out / f"{index}-kfp.yaml"

            def emit():
                return kfp_backend.project_documents(checked, project)

            def emit_and_write():
                ours_path.write_bytes(serialize(emit()[0]))

            documents = emit()
            emit_and_write()
            upstreams = kfp_backend.upstreams(checked, project)

            def build():
                return kfp_dsl.build_pipeline(project.model, upstreams, pipeline_root=config.kubeflow.pipelineRoot,
                                              release_image=config.kubeflow.releaseImage,
                                              version=documents[2].content["metadata"]["name"])

            def build_to_dicts():
                pipeline = build()
                return (json_format.MessageToDict(pipeline.pipeline_spec),
                        json_format.MessageToDict(pipeline.platform_spec))

            def build_and_compile():
                kfp_dsl.compile_to(build(), theirs_path)

            build_and_compile()
            mine, kfps = (list(yaml.load_all(p.read_text(), Loader=yaml.CSafeLoader)) for p in (ours_path, theirs_path))
            kfps[0]["sdkVersion"] = mine[0]["sdkVersion"]
            if mine != kfps or build_to_dicts()[0] | {"sdkVersion": mine[0]["sdkVersion"]} != mine[0]:
                print(f"{project.key}: kfp compiled a different pipeline; not comparable", file=sys.stderr)
                return 2
            tasks.append(sum(1 for c in mine[0]["components"].values() if "executorLabel" in c))
            ours.append(best_of(args.repeat, emit))
            kfp_memory.append(best_of(args.repeat, build_to_dicts))
            ours_file.append(best_of(args.repeat, emit_and_write))
            kfp_file.append(best_of(args.repeat, build_and_compile))

    ms, median = 1000, statistics.median
    memory_ratio = median(k / o for k, o in zip(kfp_memory, ours))
    file_ratio = median(k / o for k, o in zip(kfp_file, ours_file))
    print(f"{len(ours)} pipelines, {min(tasks)}-{max(tasks)} tasks each; best of {args.repeat} per pipeline "
          f"(load and check of the repository, not timed below: {check_seconds:.2f} s)")
    print(f"{'':<12}{'mlopsc median':>15}{'kfp median':>13}{'mlopsc total':>14}{'kfp total':>11}{'ratio':>8}")
    for label, mine, theirs, ratio in (("in memory", ours, kfp_memory, memory_ratio),
                                       ("to a file", ours_file, kfp_file, file_ratio)):
        print(f"{label:<12}{median(mine) * ms:>13.2f}ms{median(theirs) * ms:>11.2f}ms"
              f"{sum(mine):>13.3f}s{sum(theirs):>10.3f}s{ratio:>7.1f}x")
    print("ratio: median over pipelines of kfp time / mlopsc time")
    print(f"goal (in memory >= 10x): {'met' if memory_ratio >= 10 else 'NOT met'}")
    return 0 if memory_ratio >= 10 else 1

if __name__ == "__main__":
    sys.exit(main())
