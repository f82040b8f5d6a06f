"""`mlopsc evidence write`: the pipeline's release task writes the evidence of a blessed model.
`mlopsc evidence report`: a continuous evaluation pushes its metrics and gate outcomes to the
Pushgateway (docs/MONITORING.md), with prometheus_client (imported only by that action).

It runs inside the pipeline (image: config.kubeflow.releaseImage), after every gate passed, with
the run's metrics, the model's uri and digest and the lineage the KFP back end passes in; it reads
no specs. The file is the evidence record of LANGUAGE.md ("Evidence and promotion"): JSON with
sorted keys, indent 2 and a trailing newline, checked against the same model compile reads it with.

The digest of `--model-path` is the sha256 of the file, or for a directory the sha256 of the text
`sha256sum` prints for its files sorted by path (`<hex>  <relative posix path>` per line), so
`cd model && find . -type f | cut -c3- | LC_ALL=C sort | xargs sha256sum | sha256sum` agrees.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from pathlib import Path

from .. import layout
from ..frontend.loader import UsageError
from ..middle.images import SHA256_DIGEST

PROJECT = re.compile(r"^[^/\s]+/[^/\s]+\Z")


def add_parser(sub) -> None:
    p = sub.add_parser("evidence", help="evidence records (run by the pipeline's release task)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    w = actions.add_parser("write", help="write the evidence JSON of a released model")
    w.add_argument("--project", required=True, metavar="TEAM/PROJECT")
    w.add_argument("--serving", required=True, metavar="NAME", help="the serving target released to")
    w.add_argument("--model-uri", required=True, metavar="URI")
    model = w.add_mutually_exclusive_group(required=True)
    model.add_argument("--model-path", type=Path, metavar="PATH",
                       help="the model file or directory, to compute its digest")
    model.add_argument("--model-digest", metavar="sha256:HEX", help="the model digest, when already known")
    w.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE")
    w.add_argument("--code", action="append", default=[], metavar="NAME=COMMIT",
                   help="the code commit of a step or evaluation")
    w.add_argument("--source", action="append", default=[], metavar="NAME=VERSION")
    w.add_argument("--pipeline-version", required=True, metavar="NAME")
    # dest differs from the option: `run` is the command function every parser sets.
    w.add_argument("--run", dest="run_id", required=True, metavar="RUN_ID")
    w.add_argument("--output", required=True, type=Path, metavar="PATH")
    from .release import add_propose_options

    add_propose_options(w)
    w.set_defaults(run=run)

    r = actions.add_parser("report", help="push a continuous evaluation's metrics and gate outcomes "
                                          "to a Prometheus Pushgateway")
    r.add_argument("--evidence", required=True, type=Path, metavar="PATH",
                   help="the evidence record to report (written first when --project is given)")
    r.add_argument("--environment", required=True, metavar="ENV", help="the environment evaluated")
    r.add_argument("--pushgateway", required=True, metavar="URL", help="e.g. http://prometheus-pushgateway.monitoring.svc:9091")
    r.add_argument("--gate", action="append", default=[], metavar="GATE",
                   help="a gate to report the outcome of, `<metric> <op> <number>` (repeatable)")
    r.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="of the push (default 30)")
    # What the monitor pipeline's report task also passes: write the evidence record, then push it.
    r.add_argument("--project", metavar="TEAM/PROJECT")
    r.add_argument("--serving", metavar="NAME")
    r.add_argument("--model-uri", metavar="URI")
    r.add_argument("--model-digest", metavar="sha256:HEX")
    r.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE")
    r.add_argument("--pipeline-version", metavar="NAME")
    r.add_argument("--run", dest="run_id", metavar="RUN_ID")
    r.set_defaults(run=run_report, code=[], source=[], model_path=None)


def model_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's `sha256sum` listing sorted by relative path."""
    if path.is_file():
        return "sha256:" + _file_sha256(path)
    if not path.is_dir():
        raise UsageError(f"--model-path {str(path)!r} is neither a file nor a directory")
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{_file_sha256(p)}  {rel}\n" for rel, p in files)
    return "sha256:" + hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pairs(values: list[str], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"{option} {item!r} is not NAME=VALUE")
        if name in result:
            raise UsageError(f"{option} {name!r} is given twice")
        result[name] = value
    return result


def _metrics(values: list[str]) -> dict[str, float]:
    """Metrics by name. Two gating evaluations may declare the same metric, so the pipeline can
    pass a name twice: that is fine when the values agree; evidence has room for only one."""
    result: dict[str, float] = {}
    for item in values:
        name, text = next(iter(_pairs([item], "--metric").items()))
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--metric {name}={text!r}: the value is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"--metric {name}={text!r}: the value is not a finite number")
        if result.get(name, value) != value:
            raise UsageError(f"--metric {name!r} is given twice with different values "
                             f"({format(result[name], 'g')} and {text})")
        result[name] = value
    return result


def build_record(args: argparse.Namespace) -> dict:
    from ..frontend.evidence import Evidence

    if not PROJECT.match(args.project):
        raise UsageError(f"--project {args.project!r} is not <team>/<project>")
    if args.model_digest is not None:
        if not SHA256_DIGEST.match(args.model_digest):
            raise UsageError(f"--model-digest {args.model_digest!r} is not sha256:<64 lowercase hex>")
        digest = args.model_digest
    else:
        digest = model_digest(getattr(args, "start", args.root) / args.model_path)
    record = {
        "project": args.project,
        "serving": args.serving,
        "model": {"uri": args.model_uri, "digest": digest},
        "metrics": _metrics(args.metric),
        "lineage": {"code": _pairs(args.code, "--code"), "sources": _pairs(args.source, "--source"),
                    "pipelineVersion": args.pipeline_version, "run": args.run_id},
    }
    Evidence.model_validate(record)  # what compile will read back; a mismatch is a bug here
    return record


def run(args: argparse.Namespace) -> int:
    record = build_record(args)
    output = getattr(args, "start", args.root) / args.output  # relative to where the user stands
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(args.output)!r}: {exc.strerror or exc}") from None
    print(f"mlopsc: wrote evidence for {args.project} {args.serving} ({record['model']['digest']}) "
          f"to {args.output}", file=sys.stderr)
    if args.propose_to is None:
        if args.revision is not None:
            raise UsageError("--revision needs --propose-to")
        return 0
    from .release import propose

    return propose(args, output, args.propose_to, args.revision)


# -------------------------------------------------------------------------------- evidence report


def run_report(args: argparse.Namespace) -> int:
    from ..files import UnsafeFile, read_inside
    from ..frontend.evidence import Evidence
    from ..middle.gates import parse_gate

    gates = []
    for text in args.gate:
        gate = parse_gate(text)
        if gate is None:
            raise UsageError(f"--gate {text!r} is not `<metric> <op> <number>`")
        gates.append(gate)
    if not re.match(r"^https?://[^/\s]+", args.pushgateway):
        raise UsageError(f"--pushgateway {args.pushgateway!r} is not an http:// or https:// URL")
    path = args.evidence if args.evidence.is_absolute() else args.root / args.evidence
    if args.project is not None:
        missing = [f"--{n.replace('_', '-')}" for n in ("serving", "model_uri", "model_digest", "pipeline_version")
                   if getattr(args, n) is None] + (["--run"] if args.run_id is None else [])
        if missing:
            raise UsageError(f"--project writes the evidence record first: it needs {', '.join(missing)} too")
        record = build_record(args)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {str(args.evidence)!r}: {exc.strerror or exc}") from None
        evidence = Evidence.model_validate(record)
    else:
        try:
            raw = read_inside(path.parent, path.name, limit=1 << 20)
            evidence = Evidence.model_validate(json.loads(raw.decode("utf-8")))
        except UnsafeFile as exc:
            raise UsageError(f"--evidence {str(args.evidence)!r} {exc.reason}") from None
        except (UnicodeDecodeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise UsageError(f"--evidence {str(args.evidence)!r} is not an evidence record: "
                             f"{str(exc).splitlines()[0]}") from None
    team, _, project = evidence.project.partition("/")
    grouping = {"team": team, "project": project, "serving": evidence.serving, "environment": args.environment}

    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway  # 0.2 s: only here

    registry = CollectorRegistry()
    metric = Gauge(layout.EVALUATION_METRIC_GAUGE, "A metric of the latest continuous evaluation of the model in service",
                   ["metric"], registry=registry)
    for name, value in sorted(evidence.metrics.items()):
        metric.labels(metric=name).set(value)
    passed = Gauge(layout.EVALUATION_GATE_GAUGE, "1 if the latest continuous evaluation passed the gate, else 0 "
                   "(a gate on a metric the evaluation did not report fails)", ["gate", "metric"], registry=registry)
    outcomes = []
    for gate in gates:
        value = evidence.metrics.get(gate.metric)
        ok = value is not None and gate.passes(value)
        passed.labels(gate=str(gate), metric=gate.metric).set(1 if ok else 0)
        outcomes.append(f"{gate}: {'passed' if ok else 'FAILED'} ({'no value' if value is None else format(value, 'g')})")
    try:
        push_to_gateway(args.pushgateway, job=layout.EVALUATION_JOB, registry=registry, grouping_key=grouping,
                        timeout=args.timeout)
    except OSError as exc:  # URLError, HTTPError, timeouts and refused connections are all OSErrors
        print(f"mlopsc: error: could not push to {args.pushgateway}: {exc}", file=sys.stderr)
        return 1
    print(f"mlopsc: reported {len(evidence.metrics)} metric(s) and {len(gates)} gate(s) of {evidence.project} "
          f"{evidence.serving} in {args.environment} to {args.pushgateway}", file=sys.stderr)
    for line in outcomes:
        print(f"  {line}", file=sys.stderr)
    return 0
