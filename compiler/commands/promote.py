"""`mlopsc promote <team>/<project> <serving> --to <env>`: pin the release of the environment that
<env> promotes from in <env> too, as the Git change a reviewer approves.

The release, and not the canary, is promoted: a canary is still on trial in its own environment.
The spec is edited in place: only the values of the target's `release` change (or its lines are
added), every other byte of the file stays as it was, comments and formatting included. A full
round-trip dump (ruamel.yaml) cannot promise that: it re-indents sequences, mappings and block
scalars to one style per file. So the edit is a splice at positions the YAML parser reports, and
the result is parsed again and must equal the old data with only that release changed.

Before writing, the edited repository goes through the same checks as `compile`; any error on the
new release (its evidence, its gates, promotion order) refuses the promotion and writes nothing.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

from ..frontend.loader import UsageError, did_you_mean

BOM = "\ufeff"


def add_parser(sub) -> None:
    p = sub.add_parser("promote", help="copy the release of the source environment into the next one")
    p.add_argument("project", metavar="TEAM/PROJECT")
    p.add_argument("serving", metavar="SERVING", help="the serving target")
    p.add_argument("--to", required=True, metavar="ENV", help="the environment to promote into")
    p.add_argument("--format", choices=["text", "json", "github"], default="text",
                   help="how to print diagnostics when the promotion is refused")
    p.add_argument("-v", "--verbose", action="store_true", help="show notes under diagnostics")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..frontend.evidence import load_evidence
    from ..frontend.loader import load_project_bytes, load_repository
    from ..middle.check import check_repository
    from ..diagnostics import render_text
    from .common import print_diagnostics

    repo = load_repository(args.root, args.specs, args.config, out_dir=args.out)
    envs = repo.config.environments
    if args.to not in envs:
        raise UsageError(f"no environment {args.to!r} in {args.config}{did_you_mean(args.to, envs)}")
    source = envs[args.to].promotesFrom
    if source is None:
        raise UsageError(f"environment {args.to!r} has no promotesFrom: there is nothing to promote from")
    matches = [p for p in repo.projects if p.key == args.project]
    if not matches:
        broken = [d for d in repo.diagnostics if d.position.path in repo.broken_files]
        if args.project in repo.broken_keys and broken:
            print_diagnostics(args, broken, sys.stderr)
            return 1
        raise UsageError(f"no project {args.project!r}{did_you_mean(args.project, [p.key for p in repo.projects])}")
    project = matches[0]
    serving = project.model.spec.serving
    if args.serving not in serving:
        raise UsageError(f"project {args.project!r} has no serving target {args.serving!r}"
                         f"{did_you_mean(args.serving, serving)}")
    source_env = serving[args.serving].environments.get(source)
    if source_env is None or source_env.release is None:
        raise UsageError(f"{args.serving!r} pins no release in {source!r}, which {args.to!r} promotes from: "
                         f"there is nothing to promote")
    release = {"uri": source_env.release.uri, "digest": source_env.release.digest,
               "evidence": source_env.release.evidence}
    target_env = serving[args.serving].environments.get(args.to)
    if target_env is not None and target_env.release is not None and \
            target_env.release.model_dump() == release:
        print(f"mlopsc: {args.serving} in {args.to} already pins {release['digest']}; nothing to do",
              file=sys.stderr)
        return 0

    path = args.root / project.path
    edited = splice_release(path.read_bytes(), args.serving, args.to, release)

    # Check the repository as it would be after the edit, with the compiler's own rules.
    loaded, diagnostics = load_project_bytes(project.path, edited)
    if loaded is None:  # a bug in the splice: the self-check in set_release should prevent it
        raise AssertionError(f"promote produced an invalid spec: {diagnostics}")
    repo.projects[repo.projects.index(project)] = loaded
    repo.evidence.setdefault(release["evidence"], load_evidence(repo.root, release["evidence"]))
    checked = check_repository(repo)
    where = ("spec", "serving", args.serving, "environments", args.to, "release")
    first = loaded.doc.key_position(where).line
    last = max(line for p, (line, _) in loaded.doc.value_positions.items() if p[:len(where)] == where)
    related = [d for d in checked.diagnostics if d.position.path == project.path
               and first <= d.position.line <= last]
    if args.format == "text":  # no source lines: the file on disk is not the edited one
        sys.stderr.write(render_text(related, args.root, color=False, show_source=False,
                                     verbose=args.verbose, cwd=getattr(args, "cwd", "")))
    else:
        print_diagnostics(args, related, sys.stderr)
    if any(d.is_error for d in related):
        print(f"mlopsc: not promoted: {release['digest']} may not be released to {args.to} "
              f"(lines above refer to {project.path} as the promotion would have written it)", file=sys.stderr)
        return 1
    _write_atomically(path, edited)
    print(f"mlopsc: {project.path}: {args.serving} in {args.to} now pins {release['digest']} from {source}; "
          f"run `mlopsc compile` and commit both", file=sys.stderr)
    _say_what_stays(args, loaded, checked, source, related)
    return 0


def _say_what_stays(args, loaded, checked, source: str, shown: list) -> None:
    """Only the release moves: the target keeps its own replicas and resources. Say what they
    are, and warn (W004, as validate does) when they are less than the source environment's."""
    from ..middle.rules.capacity import describe_capacity

    envs = loaded.model.spec.serving[args.serving].environments
    print(f"mlopsc: {args.to} keeps its own {describe_capacity(envs[args.to])} "
          f"({source} has {describe_capacity(envs[source])})", file=sys.stderr)
    where = loaded.doc.key_position(("spec", "serving", args.serving, "environments", args.to))
    warnings = [d for d in checked.diagnostics if d.code == "W004" and d.position == where and d not in shown]
    if warnings:
        from .common import print_diagnostics

        print_diagnostics(args, warnings, sys.stderr)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".mlopsc-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- the text splice
def splice_release(raw: bytes, serving: str, env: str, release: dict[str, str]) -> bytes:
    """A spec file's bytes with the target's release in `env` set to `release` and every other
    byte as it was (a leading BOM included). `mlopsc promote` and `mlopsc release propose` both
    edit specs through this one function."""
    text = raw.decode("utf-8")
    edited = set_release(text.removeprefix(BOM), serving, env, release)
    return ((BOM if text.startswith(BOM) else "") + edited).encode("utf-8")


def set_release(text: str, serving: str, env: str, release: dict[str, str]) -> str:
    """The spec text with spec.serving.<serving>.environments.<env>.release set to `release`."""
    import yaml

    from ..frontend.yaml_source import load_yaml

    newline = "\r\n" if "\r\n" in text else "\n"
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    keys = ["spec", "serving", serving, "environments", env, "release"]
    node, owner = root, None
    for depth, key in enumerate(keys):
        remaining = _nest(keys[depth + 1:], release)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and owner is not None:
            edited = _fill_null(text, node, owner, key, remaining, newline)
            break
        if not isinstance(node, yaml.MappingNode):
            raise UsageError(f"cannot edit `{'.'.join(keys[:depth])}`: it is not a mapping; set the release by hand")
        entry = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if entry is None:
            edited = _append_entry(text, node, owner, key, remaining, newline)
            break
        owner, node = entry
    else:
        edited = _replace_values(text, node, release)
    _check_edit(text, edited, keys, release, load_yaml)
    return edited


def _nest(keys: list[str], leaf: dict) -> dict:
    value: dict = leaf
    for key in reversed(keys):
        value = {key: value}
    return value


def _replace_values(text: str, release_node, release: dict[str, str]) -> str:
    import yaml

    if not isinstance(release_node, yaml.MappingNode):
        raise UsageError("the target's `release` is not a mapping; set it by hand")
    spans = []
    for key_node, value_node in release_node.value:
        if key_node.value in release and isinstance(value_node, yaml.ScalarNode):
            style = value_node.style if value_node.style in ("'", '"') else None
            spans.append((value_node.start_mark.index, value_node.end_mark.index,
                          scalar(release[key_node.value], style)))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _append_entry(text: str, mapping, owner_key, key: str, value: dict, newline: str) -> str:
    """Add `key: value` as the mapping's last entry, in the mapping's own style."""
    if mapping.flow_style:
        close = mapping.end_mark.index - 1  # the `}`
        while text[close] != "}":
            close -= 1
        entry = f"{key}: {flow(value)}"
        return text[:close] + (", " if mapping.value else "") + entry + text[close:]
    indent = mapping.value[0][0].start_mark.column
    step = max(indent - owner_key.start_mark.column, 1) if owner_key is not None else 2
    at = _line_after(text, _content_end(mapping))
    lines = block({key: value}, indent, step)
    return _insert_lines(text, at, lines, newline)


def _fill_null(text: str, null_node, owner_key, key: str, value: dict, newline: str) -> str:
    """`env:` with nothing (or `~`/`null`) after it: give it its first entry."""
    if null_node.start_mark.index != null_node.end_mark.index:  # an explicit null token
        return (text[:null_node.start_mark.index] + flow({key: value})
                + text[null_node.end_mark.index:])
    step = 2
    lines = block({key: value}, owner_key.start_mark.column + step, step)
    return _insert_lines(text, _line_after(text, owner_key.end_mark.index), lines, newline)


def _content_end(node) -> int:
    """Where a node's own text ends (a block collection's end mark is the next key's start)."""
    import yaml

    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return node.end_mark.index


def _line_after(text: str, index: int) -> int:
    if index > 0 and text[index - 1] == "\n":
        return index
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _insert_lines(text: str, at: int, lines: list[str], newline: str) -> str:
    prefix = newline if at == len(text) and text and not text.endswith("\n") else ""
    return text[:at] + prefix + "".join(line + newline for line in lines) + text[at:]


def block(value: dict, indent: int, step: int) -> list[str]:
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{' ' * indent}{key}:")
            lines.extend(block(item, indent + step, step))
        else:
            lines.append(f"{' ' * indent}{key}: {scalar(item)}")
    return lines


def flow(value: dict) -> str:
    return "{" + ", ".join(f"{k}: {flow(v) if isinstance(v, dict) else scalar(v)}"
                           for k, v in value.items()) + "}"


def scalar(value: str, style: str | None = None) -> str:
    """A YAML scalar for `value`: in the old value's quoting style, else plain when that reads
    back as the same string in block and flow context, else double-quoted."""
    import yaml

    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style is None and value == value.strip():
        try:
            plain = (yaml.safe_load(f"k: {value}") == {"k": value}
                     and yaml.safe_load(f"k: [{value}]") == {"k": [value]})
        except yaml.YAMLError:
            plain = False
        if plain:
            return value
    return json.dumps(value, ensure_ascii=False)


def _check_edit(before: str, after: str, keys: list[str], release: dict, load_yaml) -> None:
    """The edit must change exactly the release: anything else is a bug in the splice."""
    old, _ = load_yaml(before.encode("utf-8"), "before")
    new, problems = load_yaml(after.encode("utf-8"), "after")
    expected = copy.deepcopy(old.data)
    node = expected
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = dict(release)
    if problems or new.data != expected:
        raise AssertionError(f"promote's edit changed more than the release: {problems or new.data}")
