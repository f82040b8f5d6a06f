"""`mlopsc lsp`: a language server (stdio) that gives editors the compiler's own diagnostics as
you type, in the whole repository's context.

Every open buffer, saved or not, is laid over the files on disk and the repository is loaded and
checked exactly as `mlopsc validate` does: a cross-project reference to a step you just renamed
in another open file, a gate the evidence no longer passes, a promotion staging never served all
show up in the editor, not only in CI. On top of that:

- hover on a diagnostic shows its rule page (`mlopsc explain CODE`);
- go to definition on a reference (`steps.train.outputs.model`, `sources.x`,
  `risk/fraud-detection:steps.train.outputs.model`), an evaluation named in `gates`, or an
  evidence path;
- completion of reference strings: this project's sources and outputs, other projects' outputs.

pygls is imported only here, so nothing else pays for it.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEBOUNCE_SECONDS = 0.25
TOKEN = re.compile(r"[A-Za-z0-9_./:@${}-]+")


def add_parser(sub) -> None:
    p = sub.add_parser("lsp", help="run the language server on stdin/stdout (for editors: "
                                   "diagnostics as you type, hover, go to definition, completion)")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        server = make_server(args)
    except ImportError:
        print("mlopsc: error: the language server needs pygls: pip install pygls", file=sys.stderr)
        return 2
    server.start_io()
    return 0


@dataclass
class _State:
    """The last check of one repository, with the buffers it was made from."""

    root: Path
    checked: object = None
    published: set[str] = field(default_factory=set)  # uris that have diagnostics in the editor
    by_path: dict[str, list] = field(default_factory=dict)


def make_server(args):
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer
    from pygls.uris import from_fs_path, to_fs_path

    from ..codes import CATALOGUE
    from ..diagnostics import Severity
    from ..explain import load_page, render_markdown
    from ..frontend.loader import load_repository
    from ..layout import find_root
    from ..middle import refs
    from ..middle.check import check_repository

    server = LanguageServer("mlopsc", "0.1.0")
    states: dict[Path, _State] = {}

    def locate(uri: str) -> tuple[_State, str] | None:
        path = to_fs_path(uri)
        if path is None:
            return None
        path = Path(path).absolute()
        root = find_root(path.parent, args.config)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            return None
        return states.setdefault(root, _State(root)), rel

    def buffers(state: _State) -> dict[str, bytes]:
        overlay = {}
        for uri, doc in server.workspace.text_documents.items():
            found = locate(uri)
            if found is not None and found[0] is state:
                overlay[found[1]] = doc.source.encode("utf-8")
        return overlay

    def token_range(text_lines: list[str], line: int, column: int) -> types.Range:
        start = types.Position(line=max(line - 1, 0), character=max(column - 1, 0))
        source = text_lines[line - 1] if 0 < line <= len(text_lines) else ""
        match = TOKEN.match(source, start.character)
        token = match.group(0) if match else ""
        token = token.rstrip(":,") if "${" in token else token.rstrip(":,}")
        length = len(token)
        return types.Range(start=start, end=types.Position(line=start.line, character=start.character + max(length, 1)))

    def text_of(state: _State, rel: str) -> list[str]:
        uri = from_fs_path(str(state.root / rel))
        doc = server.workspace.text_documents.get(uri)
        if doc is not None:
            return doc.source.splitlines()
        try:
            return (state.root / rel).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []

    def check(state: _State) -> None:
        try:
            repo = load_repository(state.root, args.specs, args.config, out_dir=args.out,
                                   overlay=buffers(state))
        except Exception as exc:  # a missing specs directory: say it once, publish nothing
            server.window_log_message(types.LogMessageParams(type=types.MessageType.Warning,
                                                             message=f"mlopsc: {exc}"))
            return
        state.checked = check_repository(repo)
        by_path: dict[str, list] = {}
        for d in state.checked.diagnostics:
            by_path.setdefault(d.position.path, []).append(d)
        state.by_path = by_path
        uris = set()
        for rel, found in by_path.items():
            lines = text_of(state, rel)
            uri = from_fs_path(str(state.root / rel))
            uris.add(uri)
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[
                types.Diagnostic(range=token_range(lines, d.position.line, d.position.column),
                                 message=d.message, source="mlopsc", code=d.code,
                                 severity=types.DiagnosticSeverity.Error if d.severity is Severity.ERROR
                                 else types.DiagnosticSeverity.Warning)
                for d in found]))
        for uri in state.published - uris:  # fixed since the last check
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        state.published = uris

    def refresh(uri: str) -> None:
        found = locate(uri)
        if found is not None:
            check(found[0])

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    latest: dict[str, int] = {}

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        # Typing sends a change per keystroke: check once the burst is over, not after each one.
        uri, version = params.text_document.uri, params.text_document.version
        latest[uri] = version
        await asyncio.sleep(DEBOUNCE_SECONDS)
        if latest.get(uri) == version:
            refresh(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        refresh(params.text_document.uri)  # the file on disk counts again

    def current(uri: str):
        found = locate(uri)
        if found is None:
            return None
        state, rel = found
        if state.checked is None:
            check(state)
        return (state, rel) if state.checked is not None else None

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams):
        found = current(params.text_document.uri)
        if found is None:
            return None
        state, rel = found
        lines = text_of(state, rel)
        for d in state.by_path.get(rel, []):
            r = token_range(lines, d.position.line, d.position.column)
            pos = params.position
            if r.start.line == pos.line and r.start.character <= pos.character <= r.end.character:
                page = load_page(d.code)
                text = (render_markdown(page, heading="###") if page is not None
                        else f"**{d.code}** {CATALOGUE[d.code].summary}")
                return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                                value=f"{d.message}\n\n---\n\n{text}"),
                                   range=r)
        return reference_hover(state, rel, lines, params.position)

    def reference_hover(state: _State, rel: str, lines: list[str], pos: types.Position):
        """What a reference names: its kind, type and where it is defined."""
        word = word_at(lines, pos)
        ref = refs.parse_ref(word[0]) if word else None
        if ref is None:
            return None
        projects = state.checked.lineage.projects
        here = next((p for p in projects.values() if p.path == rel), None)
        key = ref.project or (here.key if here else None)
        target = projects.get(key) if key else None
        if target is None:
            return None
        spec = target.model.spec
        if ref.source is not None and ref.source in spec.sources:
            source = spec.sources[ref.source]
            what, path = f"source `{ref.source}`: {source.uri} at version {source.version}", ("spec", "sources", ref.source)
        elif ref.step in spec.steps and ref.output in spec.steps[ref.step].outputs:
            kind = spec.steps[ref.step].outputs[ref.output]
            what, path = f"{kind} `{ref.output}` of step `{ref.step}`", ("spec", "steps", ref.step, "outputs", ref.output)
        else:
            return None
        at = target.doc.key_position(path)
        return types.Hover(contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"{what} in `{key}` ({target.path}:{at.line})"))

    def word_at(lines: list[str], pos: types.Position) -> tuple[str, int] | None:
        if pos.line >= len(lines):
            return None
        line = lines[pos.line]
        for match in TOKEN.finditer(line):
            if match.start() <= pos.character <= match.end():
                word = match.group(0)
                return (word if "${" in word else word.rstrip("}")).strip("\"'"), match.start()
        return None

    def key_location(state: _State, project, path: tuple) -> types.Location:
        position = project.doc.key_position(path)
        start = types.Position(line=position.line - 1, character=position.column - 1)
        return types.Location(uri=from_fs_path(str(state.root / project.path)),
                              range=types.Range(start=start, end=start))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls, params: types.DefinitionParams):
        found = current(params.text_document.uri)
        if found is None:
            return None
        state, rel = found
        word = word_at(text_of(state, rel), params.position)
        if word is None:
            return None
        text, _ = word
        projects = state.checked.lineage.projects
        here = next((p for p in projects.values() if p.path == rel), None)
        ref = refs.parse_ref(text)
        if ref is not None:
            target = projects.get(ref.project or (here.key if here else ""))
            if target is None:
                return None
            spec = target.model.spec
            if ref.source is not None and ref.source in spec.sources:
                return key_location(state, target, ("spec", "sources", ref.source))
            if ref.step in spec.steps and ref.output in spec.steps[ref.step].outputs:
                return key_location(state, target, ("spec", "steps", ref.step, "outputs", ref.output))
            if ref.step in spec.steps:
                return key_location(state, target, ("spec", "steps", ref.step))
            return None
        if text.endswith(".json") and (state.root / text).is_file():
            start = types.Position(line=0, character=0)
            return types.Location(uri=from_fs_path(str(state.root / text)), range=types.Range(start=start, end=start))
        if here is not None and text in here.model.spec.evaluations:  # `gates: [holdout]`
            return key_location(state, here, ("spec", "evaluations", text))
        return None

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", ":", "/"]))
    def completion(ls, params: types.CompletionParams):
        found = current(params.text_document.uri)
        if found is None:
            return None
        state, rel = found
        projects = state.checked.lineage.projects
        here = next((p for p in projects.values() if p.path == rel), None)
        items = []

        def add(label: str, detail: str) -> None:
            items.append(types.CompletionItem(label=label, kind=types.CompletionItemKind.Reference,
                                              detail=detail))

        for key in sorted(projects):
            spec = projects[key].model.spec
            prefix = "" if here is not None and key == here.key else f"{key}:"
            if not prefix:
                for name, source in spec.sources.items():
                    add(f"sources.{name}", f"source {source.uri}")
            for step, item in spec.steps.items():
                for output, kind in item.outputs.items():
                    add(f"{prefix}steps.{step}.outputs.{output}", f"{kind} of step {step} in {key}")
        return types.CompletionList(is_incomplete=False, items=items)

    return server
