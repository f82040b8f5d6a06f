"""Rule pages: what each diagnostic code checks, why it matters, an example that triggers it and
the same example fixed, as ruff's rule pages do. `mlopsc explain CODE` prints one, the language
server shows it on hover, and docs/CODES.md renders them all (tests/test_explain_pages.py keeps
it current).

One page per code: compiler/explain/pages/<CODE>.yaml (the name, severity and one-line summary
come from compiler/codes.py). Its examples are edits to a small base repository (the contract's
examples, compiled once), so they stay a few lines each:

    checks: what the rule looks at
    why: what goes wrong without it
    trigger:                                   # edits that make the base report exactly CODE
      specs/risk/fraud-detection.yaml#/spec/steps/train/resources/memory: 16GB
    fix:                                       # edits on top of the trigger: no diagnostic at all
      specs/risk/fraud-detection.yaml#/spec/steps/train/resources/memory: 16Gi

An edit's key is a file path, optionally with a JSON pointer after `#` (RFC 6901: `/` between
keys, list indices as numbers, `~1` for a `/` inside a key); the value is what to set there
(`<delete>` removes it). A file path alone takes the whole new text, or `{replace: OLD, with:
NEW}` for a textual edit (for syntax errors and other things data cannot express), with an
optional `encoding` to write it in (and `read`, the one to read it in). Two more values change the
file system itself: `{symlink: TARGET}` puts a symlink to TARGET there and `{mkdir: true}` an
empty directory (each replacing whatever stood there); `<delete>` removes a file, a symlink or a
whole directory; `{grow: BYTES}` appends comment lines to a file (a new one if
needed) until it holds BYTES bytes (for
the size bounds). The test suite applies every page's examples, so a page cannot describe a rule
that no longer behaves that way.

Most codes are reported by every check (`load_and_check`: `validate`, `compile`, the language
server). A code only a command reports says which, and the test runs that command in the edited
repository, in process, and reads the `path:line:col: severity[CODE]: message` lines it prints:

    command: [compile]                          # the output stage (O001-O004)
    command: [release, propose, --evidence, proposal.json, --repo, "{remote}"]
    remote: true                                # E020-E023

`remote: true` makes the edited repository (base and edits, as one commit on `main`) a bare Git
repository first; `{remote}` in the command is its file:// URL, shown as `<remote>` in the page
and in the messages (its commit as `<commit>`, the example's own files relative to it). With a
`command`, the trigger must make the command fail (exit 1) with that code alone, and the fix make
it succeed (exit 0) without printing any diagnostic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGES = Path(__file__).parent / "pages"
DELETE = "<delete>"
REMOTE, REMOTE_SHOWN = "{remote}", "<remote>"


@dataclass(frozen=True)
class Page:
    code: str
    checks: str
    why: str
    trigger: dict[str, Any]
    fix: dict[str, Any]
    command: tuple[str, ...] = ()  # empty: every check reports it (load_and_check)
    remote: bool = False

    def command_line(self) -> str:
        """The command as a reader types it (`{remote}` shown as `<remote>`)."""
        return " ".join(["mlopsc", *(REMOTE_SHOWN if a == REMOTE else a for a in self.command)])


def page_path(code: str) -> Path:
    return PAGES / f"{code.upper()}.yaml"


def load_page(code: str) -> Page | None:
    import yaml

    path = page_path(code)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Page(code.upper(), data["checks"].strip(), data["why"].strip(), data["trigger"], data["fix"],
                tuple(str(a) for a in data.get("command") or ()), bool(data.get("remote", False)))


# ------------------------------------------------------------------------------- applying edits
def _split(key: str) -> tuple[str, list[str] | None]:
    path, hash_, pointer = key.partition("#")
    if not hash_:
        return path, None
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    return path, parts


def apply_edits(root: Path, edits: dict[str, Any]) -> None:
    """Apply a page's edits to the repository at `root` (a copy: files are rewritten)."""
    import yaml

    for key, value in edits.items():
        rel, pointer = _split(key)
        path = root / rel
        if pointer is None:
            if value == DELETE or (isinstance(value, dict) and ({"symlink", "mkdir"} & set(value))):
                _remove(path)
            if value == DELETE:
                continue
            if isinstance(value, dict) and "symlink" in value:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(value["symlink"])
            elif isinstance(value, dict) and "mkdir" in value:
                path.mkdir(parents=True)
            elif isinstance(value, dict) and "grow" in value:
                path.parent.mkdir(parents=True, exist_ok=True)
                missing = int(value["grow"]) - (path.stat().st_size if path.exists() else 0)
                line = b"#" + b" padding" * 15 + b"\n"
                with path.open("ab") as out:
                    out.write(line * (max(missing, 0) // len(line) + 1))
            elif isinstance(value, dict):
                text = path.read_bytes().decode(value.get("read", "utf-8"))
                assert value["replace"] in text, f"{value['replace']!r} is not in {rel}"
                text = text.replace(value["replace"], value["with"], 1)
                path.write_bytes(text.encode(value.get("encoding", "utf-8")))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(value, encoding="utf-8")
            continue
        is_json = rel.endswith(".json")
        text = path.read_text(encoding="utf-8") if path.exists() else "{}"
        data = json.loads(text) if is_json else yaml.safe_load(text)
        _set(data, pointer, value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n" if is_json
                        else yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200),
                        encoding="utf-8")


def _remove(path: Path) -> None:
    """Whatever stands at `path` (a file, a symlink, a directory tree), without following a link."""
    import shutil

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _set(data: Any, pointer: list[str], value: Any) -> None:
    node = data
    for part in pointer[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = pointer[-1]
    if isinstance(node, list):
        if value == DELETE:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif value == DELETE:
        node.pop(last, None)
    else:
        node[last] = value


# ------------------------------------------------------------------------------------ rendering
def example_text(edits: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each edited file's part of an example: (file, language, text), as a reader sees it."""
    import yaml

    trees: dict[str, dict] = {}
    shown: list[tuple[str, str, str]] = []
    for key, value in edits.items():
        rel, pointer = _split(key)
        if pointer is None:
            if value == DELETE:
                shown.append((rel, "text", "(deleted)"))
            elif isinstance(value, dict) and "symlink" in value:
                shown.append((rel, "text", f"(a symlink to {value['symlink']})"))
            elif isinstance(value, dict) and "mkdir" in value:
                shown.append((rel, "text", "(an empty directory)"))
            elif isinstance(value, dict) and "grow" in value:
                shown.append((rel, "text", f"(a file of {int(value['grow']):,} bytes)"))
            else:
                text = value["with"] if isinstance(value, dict) else value
                if isinstance(value, dict) and "encoding" in value:
                    text += f"\n# (the file saved as {value['encoding']})"
                shown.append((rel, "json" if rel.endswith(".json") else "yaml", text.rstrip("\n")))
            continue
        node = trees.setdefault(rel, {})
        for part in pointer[:-1]:
            node = node.setdefault(part, {})
        node[pointer[-1]] = value
    for rel, tree in trees.items():
        if rel.endswith(".json"):
            text = json.dumps(tree, indent=2).replace(f'"{DELETE}"', "(removed)")
            shown.append((rel, "json", text))
        else:
            text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=200,
                                  default_flow_style=False).rstrip("\n")
            lines = [line.replace(f": {DELETE}", ":  # (removed)") for line in text.splitlines()]
            shown.append((rel, "yaml", "\n".join(lines)))
    return shown


def render_text(page: Page) -> str:
    """The page for a terminal."""
    from ..codes import CATALOGUE

    entry = CATALOGUE[page.code]
    out = [f"{entry.code} ({entry.name}, {entry.severity.value})", "", entry.summary, "",
           "What it checks", *_indent(page.checks), "", "Why it matters", *_indent(page.why)]
    for title, edits in (("Example", page.trigger), ("Fixed", page.fix)):
        out += ["", title]
        for rel, _, text in example_text(edits):
            out += [f"  # {rel}", *("  " + line for line in text.splitlines())]
        if page.command:
            out += [f"  $ {page.command_line()}"]
    return "\n".join(out) + "\n"


def render_markdown(page: Page, messages: list[str] | None = None, heading: str = "##") -> str:
    """The page in Markdown (docs/CODES.md, editor hovers); `messages` are what the trigger reports."""
    from ..codes import CATALOGUE

    entry = CATALOGUE[page.code]
    out = [f"{heading} {entry.code} {entry.name} ({entry.severity.value})", "", entry.summary, "",
           "**What it checks.** " + page.checks, "", "**Why it matters.** " + page.why, "",
           "**Example**", ""]
    out += _blocks(page.trigger)
    if page.command:
        out += ["```console", f"$ {page.command_line()}", "```", ""]
    if messages:
        out += ["```text", *messages, "```", ""]
    out += ["**Fixed**", ""] + _blocks(page.fix)
    if page.command:
        out += ["```console", f"$ {page.command_line()}", "```", ""]
    return "\n".join(out)


def _blocks(edits: dict[str, Any]) -> list[str]:
    out = []
    for rel, lang, text in example_text(edits):
        out += [f"`{rel}`:", "", f"```{lang}", text, "```", ""]
    return out


def _indent(text: str) -> list[str]:
    import textwrap

    lines = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, 96, initial_indent="  ", subsequent_indent="  ") or [""]
    return lines
