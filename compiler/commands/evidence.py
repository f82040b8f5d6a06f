"""`mlopsc evidence write`: the pipeline's release task writes the evidence of a blessed model.

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

from ..frontend.loader import UsageError

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PROJECT = re.compile(r"^[^/\s]+/[^/\s]+$")


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
    w.set_defaults(run=run)


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
        if not DIGEST.match(args.model_digest):
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
    return 0
