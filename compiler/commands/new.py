"""`mlopsc new <team>/<project>`: a commented spec that validates and compiles as it is, and the
team declared in mlopsc.yaml when it is missing.

The spec's placeholders pass every check and are obviously placeholders: digests and commits are
all zeros (`sha256:000…`, a 40-zero commit), images come from the first registry the policy
allows, and every line to replace says TODO. No environment pins a release yet, so nothing is
deployed until the pipeline's release task proposes one with evidence.

mlopsc.yaml is edited the way `promote` edits specs: a splice at the positions the YAML parser
reports, so its comments and formatting stay, and the result is parsed again and must equal the
old settings plus the one team. Before anything is kept, the repository is checked with the new
files; an error in them (a policy this template cannot satisfy) undoes the change.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from ..frontend.loader import UsageError
from ..middle.k8s_names import is_dns1123_label

TEMPLATES = Path(__file__).parent / "templates" / "new"
ZEROS64, ZEROS40 = "0" * 64, "0" * 40
DEFAULT_REGISTRY = "registry.example.com"


def add_parser(sub) -> None:
    p = sub.add_parser("new", help="start a project: a commented spec that compiles as it is "
                                   "(and its team in mlopsc.yaml)")
    p.add_argument("key", metavar="TEAM/PROJECT", help="e.g. nlp/ticket-router (DNS-1123 names)")
    p.add_argument("--runtime", default="kserve:sklearn", metavar="kserve:FORMAT|container",
                   help="how the model is served: a KServe model server for FORMAT (sklearn, "
                        "xgboost, …; default kserve:sklearn) or your own server image")
    p.set_defaults(run=run)


def _formats() -> list[str]:
    from ..frontend.models import KServeFormat

    return list(typing.get_args(KServeFormat))


def render_spec(team: str, project: str, runtime: str, registry: str, environments: list[str]) -> str:
    import jinja2

    container = runtime == "container"
    kind, _, fmt = runtime.partition(":")
    if not container and (kind != "kserve" or fmt not in _formats()):
        raise UsageError(f"--runtime {runtime!r} is not `container` or `kserve:<format>` with a format "
                         f"of {', '.join(_formats())}")
    serving = project if project[0].isalpha() else f"m-{project}"  # DNS-1035, as K016 requires
    serving = serving[:53].rstrip("-")
    template = jinja2.Template((TEMPLATES / "project.yaml.j2").read_text(encoding="utf-8"),
                               keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return template.render(key=f"{team}/{project}", team=team, project=project, registry=registry,
                           zeros64=ZEROS64, zeros40=ZEROS40, serving=serving, container=container,
                           format=fmt, environments=environments or ["staging"],
                           first_env=(environments or ["staging"])[0])


def declare_team(text: str, team: str) -> str:
    """mlopsc.yaml's text with `<team>: {}` added under `teams:`, every other byte kept."""
    import yaml

    from ..frontend.yaml_source import load_yaml
    from .promote import _content_end, _insert_lines, _line_after

    newline = "\r\n" if "\r\n" in text else "\n"
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(root, yaml.MappingNode):
        raise UsageError("mlopsc.yaml is not a mapping; fix it first (`mlopsc validate`)")
    entry = next(((k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "teams"), None)
    if entry is None:
        at = _line_after(text, _content_end(root))
        edited = _insert_lines(text, at, ["teams:", f"  {team}: {{}}"], newline)
    else:
        key, node = entry
        if not isinstance(node, yaml.MappingNode):
            raise UsageError("`teams` in mlopsc.yaml is not a mapping; add the team by hand")
        if node.flow_style and not node.value:  # `teams: {}` becomes a block with the team
            indent = " " * (key.start_mark.column + 2)
            edited = (text[:node.start_mark.index].rstrip(" ") + f"{newline}{indent}{team}: {{}}"
                      + text[node.end_mark.index:])
        elif node.flow_style:
            close = node.end_mark.index - 1
            while text[close] != "}":
                close -= 1
            edited = text[:close] + f", {team}: {{}}" + text[close:]
        else:
            indent = " " * node.value[0][0].start_mark.column
            edited = _insert_lines(text, _line_after(text, _content_end(node)),
                                   [f"{indent}{team}: {{}}"], newline)
    before, _ = load_yaml(text.encode("utf-8"), "before")
    after, problems = load_yaml(edited.encode("utf-8"), "after")
    expected = dict(before.data)
    expected["teams"] = {**(expected.get("teams") or {}), team: {}}
    if problems or after.data != expected:  # a bug in the splice, never the user's input
        raise AssertionError(f"declaring team {team} changed more than teams: {problems or after.data}")
    return edited


def run(args) -> int:
    from ..build import load_and_check
    from ..diagnostics import display_path, render_text
    from ..frontend.loader import load_repository
    from .common import layout

    team, _, project = args.key.partition("/")
    if not (is_dns1123_label(team) and is_dns1123_label(project)):
        raise UsageError(f"{args.key!r} is not <team>/<project>: two DNS-1123 names (lowercase letters, "
                         f"digits and '-'), e.g. nlp/ticket-router")
    config_path = args.root / args.config
    if not config_path.is_file():
        raise UsageError(f"no {args.config} in {args.start} or any directory above it: run `mlopsc init` "
                         f"to start a repository of specs")
    rel = f"{args.specs}/{team}/{project}.yaml"
    spec_path = args.root / rel
    if spec_path.exists():
        raise UsageError(f"{rel} already exists; `mlopsc validate` checks it")
    (args.root / args.specs).mkdir(parents=True, exist_ok=True)  # the first project of a repository
    repo = load_repository(args.root, args.specs, args.config, out_dir=args.out)
    if any(d.is_error and d.position.path == args.config for d in repo.diagnostics):
        raise UsageError(f"{args.config} has errors; fix them first (`mlopsc validate` lists them)")
    config = repo.config
    registry = (config.policy.allowedRegistries or [DEFAULT_REGISTRY])[0]
    spec = render_spec(team, project, args.runtime, registry, list(config.environments))

    old_config = config_path.read_bytes()
    declared = config.teams is not None and team not in config.teams
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(spec, encoding="utf-8")
    if declared:
        text = old_config.decode("utf-8-sig")
        bom = "\ufeff" if old_config.startswith(b"\xef\xbb\xbf") else ""
        config_path.write_bytes((bom + declare_team(text, team)).encode("utf-8"))
    checked = load_and_check(layout(args))
    ours = [d for d in checked.diagnostics if d.position.path in (rel, args.config)]
    if any(d.is_error for d in ours):
        sys.stderr.write(render_text(ours, args.root, color=False, show_source=False, cwd=args.cwd))
        spec_path.unlink()
        config_path.write_bytes(old_config)
        print(f"mlopsc: nothing written: the new spec does not pass this repository's checks "
              f"(see above); please report it with your {args.config}", file=sys.stderr)
        return 1
    shown = display_path(rel, args.cwd)
    print(f"mlopsc: wrote {shown}" + (f" and declared team `{team}` in {args.config}" if declared else ""))
    print("Next steps:")
    print(f"  1. Replace every TODO in {shown}: the data's uri and version, the images' digests, "
          f"the code commits, the metrics and their gates (`mlopsc validate` checks as you go).")
    print("  2. Run `mlopsc compile`: it writes the pipeline, the serving objects and the Argo CD "
          "Applications under generated/.")
    files = f"{shown}, {display_path(args.config, args.cwd)} and generated/" if declared else f"{shown} and generated/"
    print(f"  3. Commit {files} and open a pull request: CI runs `mlopsc compile --check`, and the "
          f"pipeline's release task proposes the first release.")
    return 0
