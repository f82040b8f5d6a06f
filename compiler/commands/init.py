"""`mlopsc init`: start a repository of specs in the current directory (or -C DIR).

Writes what a repository needs and nothing it has already: mlopsc.yaml (commented, with TODO
placeholders that pass the checks), specs/, the .gitignore lines for mlopsc's scratch space and a
virtualenv, the pre-commit config, and the CI workflow (the one in mlopsc's docs/examples).
"""

from __future__ import annotations

import sys

from ..frontend.loader import UsageError
from .new import TEMPLATES

GITIGNORE = ["# mlopsc's scratch space (staging trees, fingerprints)", ".mlopsc/", ".venv/"]
FILES = {  # what init writes → the bundled file it copies
    "mlopsc.yaml": "mlopsc.yaml",
    ".pre-commit-config.yaml": "pre-commit-config.yaml",
    ".github/workflows/mlopsc.yml": "github-actions.yml",
}


def add_parser(sub) -> None:
    p = sub.add_parser("init", help="start a repository of specs here: mlopsc.yaml, specs/, "
                                    ".gitignore, pre-commit and CI")
    p.set_defaults(run=run)


def run(args) -> int:
    here = args.start
    if (here / args.config).exists():
        raise UsageError(f"{args.config} already exists here: this is a repository of specs already "
                         f"(`mlopsc new <team>/<project>` adds a project)")
    if args.root != here and (args.root / args.config).exists():
        raise UsageError(f"{args.root} above is a repository of specs already; mlopsc works from "
                         f"anywhere inside it (`mlopsc new <team>/<project>` adds a project)")
    written = []
    for target, bundled in FILES.items():
        path = here / target
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((TEMPLATES / bundled).read_bytes())
        written.append(target)
    specs = here / args.specs
    if not specs.exists():
        specs.mkdir(parents=True)
        (specs / ".gitkeep").write_bytes(b"")
        written.append(f"{args.specs}/")
    ignore = here / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    missing = [line for line in GITIGNORE if line not in lines]
    if any(not line.startswith("#") for line in missing):
        prefix = "\n" if lines and lines[-1].strip() else ""
        with ignore.open("a", encoding="utf-8") as f:
            f.write(prefix + "".join(line + "\n" for line in missing))
        written.append(".gitignore")
    print(f"mlopsc: wrote {', '.join(written)}")
    print("Next steps:")
    print(f"  1. Replace the TODOs in {args.config}: the Git URL Argo CD syncs, the artifact bucket, "
          f"the production cluster and your image registry.")
    print("  2. `mlopsc new <team>/<project>` writes a first project that compiles as it is.")
    print("  3. `mlopsc compile`, then commit everything (generated/ too): CI runs the workflow in "
          ".github/workflows/mlopsc.yml.")
    return 0
