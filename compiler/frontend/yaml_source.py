"""Safe YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them ourselves, so that
each value's path (e.g. ('spec', 'steps', 'train', 'image')) maps to its line and column. The
schema and rule stages then turn any problem found at a path into a diagnostic at the exact spot.

What is read, and why:
- Only the YAML 1.1 core tags (the same set as yaml.safe_load); any other tag is an error.
- Dates stay strings: a source version `2026-11-01` is an identifier, not a calendar date.
- Mapping keys are always strings, exactly as written: every key in the language is a name, so
  `1:` is the name "1" and `on:` is "on" (YAML 1.1 would make them an int and a boolean).
- Anchors, aliases and `<<` merges work, but an alias may not expand the document beyond a budget
  proportional to its text (the "billion laughs" file), and nesting is limited, because libyaml's
  composer recurses in C and would crash on a few ten thousand levels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import yaml

from .. import codes
from ..diagnostics import Diagnostic, Position

_SCALAR_CONSTRUCTORS = {
    "tag:yaml.org,2002:null": lambda c, n: None,
    "tag:yaml.org,2002:bool": yaml.constructor.SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": yaml.constructor.SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.constructor.SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:str": lambda c, n: n.value,
    "tag:yaml.org,2002:timestamp": lambda c, n: n.value,
    "tag:yaml.org,2002:value": lambda c, n: n.value,  # a plain `=`
}
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_STR = "tag:yaml.org,2002:str"
# A plain (unquoted) scalar whose type is not resolved yet.
_PLAIN = "tag:mlopsc.dev,2026:plain"

try:  # libyaml is much faster; fall back when it is not compiled in.
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader


class _Loader(_Base):
    """Composes without resolving scalar types: libyaml asks the (Python, regex-based) resolver
    about every node, which took half of the composer's time, and keys, about half of all
    scalars, are names anyway. Values are resolved when they are built."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


_RESOLVER = yaml.resolver.Resolver()
# The first characters for which the resolver has an implicit type (`1`, `t`rue, `~`, `-`...):
# a plain scalar starting with any other character is a string, without asking it (most values
# and all names start with a letter outside this set).
_TYPED_FIRST_CHARS = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k is not None)
assert None not in _RESOLVER.yaml_implicit_resolvers  # no resolver for every first character

# Specs nest about ten levels deep; params a few more. Far below what would exhaust a stack.
MAX_DEPTH = 100
# Every collection needs at least one of these characters, so their count bounds the nesting.
_NESTING_CHARS = "[{-:?"
# libyaml's composer survives 20,000 levels on a default stack; stay well below that.
_SAFE_FOR_COMPOSER = 5_000
# Nodes built beyond one per character of text can only come from aliases expanding.
_ALIAS_SLACK = 10_000

Path_ = tuple  # a path into the data: str keys and int indices


@dataclass
class SourceDocument:
    """One loaded YAML file: its data and the position of every key and value in it."""

    path: str
    data: Any = None
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_ = (), *, key: bool = False) -> Position:
        """The position of the value at `path` (or of its key), else of the nearest ancestor."""
        return Position(self.path, *self.line_column(path, key=key))

    def line_column(self, path: Path_ = (), *, key: bool = False) -> tuple[int, int]:
        """(line, column) of `position(path, key=key)`, for callers that need no Position object
        (the lineage graph records one for each of its nodes)."""
        table = self.key_positions if key else self.value_positions
        probe = tuple(path)
        while probe:
            hit = table.get(probe)
            if hit is None and key:
                hit = self.value_positions.get(probe)
            if hit is not None:
                return hit
            probe = probe[:-1]
        return self.value_positions.get(()) or (1, 1)

    def key_position(self, path: Path_) -> Position:
        return self.position(path, key=True)


def load_yaml(raw: bytes, path: str) -> tuple[SourceDocument, list[Diagnostic]]:
    """Parse one file. On any error the document's data is None and the diagnostics say why."""
    doc = SourceDocument(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        return doc, [codes.NOT_UTF8.at(Position(path, line, column),
                                       f"file is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)")]
    try:
        too_deep = _too_deep(text) if _nesting_bound(text) > _SAFE_FOR_COMPOSER else None
        if too_deep is not None:
            return doc, [codes.UNSAFE_YAML.at(Position(path, *too_deep),
                                              f"nested more than {MAX_DEPTH} levels deep")]
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if "maximum nesting depth" in problem:
            # Newer libyaml (PyYAML >= 6.0.4) stops deep nesting in its scanner, ahead of our count.
            return doc, [codes.UNSAFE_YAML.at(pos, f"nested more than {MAX_DEPTH} levels deep")]
        if "tab" in problem or (mark is not None and _char_at(text, mark.index) == "\t"):
            problem += " (YAML indents with spaces, never tabs)"
            return doc, [codes.YAML_SYNTAX.at(pos, problem)]
        plain = _in_plain_words(exc, text)
        if plain is None:
            return doc, [codes.YAML_SYNTAX.at(pos, problem)]
        mark, message = plain
        return doc, [codes.YAML_SYNTAX.at(Position(path, mark.line + 1, mark.column + 1), message,
                                          (f"libyaml says: {problem}",))]
    except yaml.reader.ReaderError as exc:
        return doc, [codes.YAML_SYNTAX.at(_reader_position(path, text, exc),
                                          f"{exc.reason} (character 0x{exc.character:x})"
                                          if isinstance(exc.character, int) else str(exc.reason))]
    except yaml.YAMLError as exc:  # pragma: no cover - every libyaml error is one of the above
        return doc, [codes.YAML_SYNTAX.at(Position(path), str(exc).splitlines()[0])]
    if len(nodes) > 1:
        second = nodes[1].start_mark
        return doc, [codes.MULTIPLE_DOCUMENTS.at(
            Position(path, second.line + 1, second.column + 1),
            f"found {len(nodes)} YAML documents; a spec file holds exactly one (remove the `---`)")]
    if not nodes:
        doc.value_positions[()] = (1, 1)
        return doc, []
    builder = _Builder(doc, budget=len(text) + _ALIAS_SLACK)
    doc.data = builder.build(nodes[0], ())
    return doc, builder.diagnostics


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


def _in_plain_words(exc: yaml.MarkedYAMLError, text: str):
    """libyaml's parser-speak ("while parsing a block mapping … did not find expected key") as
    what went wrong, naming the line that opened the block: (mark, message), or None."""
    context, problem = exc.context or "", exc.problem or ""
    opened, at = exc.context_mark, exc.problem_mark
    if at is None:
        return None
    here = _line_text(text, at.line).lstrip()
    if opened is not None and "block mapping" in context and "expected key" in problem:
        column = len(_line_text(text, opened.line)) - len(_line_text(text, opened.line).lstrip()) + 1
        if here.startswith("-"):
            return at, (f"a list item cannot stand among the keys of the mapping opened at line "
                        f"{opened.line + 1}: put it under a key (`key:` then `- item` indented below)")
        prev = next((i for i in range(at.line - 1, opened.line, -1)
                     if _line_text(text, i).strip() and not _line_text(text, i).lstrip().startswith("#")), None)
        other = ""
        if prev is not None:
            inner = len(_line_text(text, prev)) - len(_line_text(text, prev).lstrip()) + 1
            if inner != column:
                other = f", or to column {inner} like line {prev + 1}"
        return at, (f"this line is not indented like the mapping opened at line {opened.line + 1}, "
                    f"whose keys start at column {column}: indent it to column {column}{other}")
    if opened is not None and "block collection" in context and "'-' indicator" in problem:
        return at, (f"this line is not indented like the list opened at line {opened.line + 1}: "
                    f"each item starts with `- ` at column {opened.column + 1}")
    if opened is not None and "flow mapping" in context:
        return opened, (f"the `{{` opened here (line {opened.line + 1}) is not closed where line "
                        f"{at.line + 1} starts: add the closing `}}`, or a `,` between items")
    if opened is not None and "flow sequence" in context:
        return opened, (f"the `[` opened here (line {opened.line + 1}) is not closed where line "
                        f"{at.line + 1} starts: add the closing `]`, or a `,` between items")
    if opened is not None and "quoted scalar" in context:
        return opened, (f"the quote opened here (line {opened.line + 1}) is never closed: add the "
                        f"closing quote")
    if opened is not None and "simple key" in context and "expected ':'" in problem:
        return opened, ("this line is neither `key: value` nor a list item: add the `:` after the "
                        "key, or `- ` before an item")
    if "mapping values are not allowed" in problem:
        return at, ("unexpected `:` here: a value cannot hold `key: value` on its line. Either this "
                    "line is indented deeper than it belongs (under a key that already has a "
                    "value), or the value contains `: ` and needs quotes")
    if "undefined alias" in problem:
        return at, "`*` starts an alias, but no `&anchor` of that name comes before it: quote the value if it is text"
    return None


def _is_merge_key(node: yaml.Node) -> bool:
    return node.tag == _MERGE or (node.tag == _PLAIN and node.value == "<<")


@functools.lru_cache(maxsize=4096)
def _plain_tag(value: str) -> str:
    """The type the resolver gives a plain scalar; remembered, since the same few values (`true`,
    `1`, a step's name) recur in every spec and the resolver tries a regex for each type."""
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))


def _char_at(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def _nesting_bound(text: str) -> int:
    return sum(text.count(c) for c in _NESTING_CHARS)


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where the nesting first exceeds MAX_DEPTH, found with libyaml's (non-recursive) parser."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1, event.start_mark.column + 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _reader_position(path: str, text: str, exc: yaml.reader.ReaderError) -> Position:
    # libyaml reports the offset in the UTF-8 encoding of the text.
    raw = text.encode("utf-8", "surrogatepass")
    offset = min(max(exc.position, 0), len(raw))
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return Position(path, raw.count(b"\n", 0, offset) + 1, column)


class _Builder:
    def __init__(self, doc: SourceDocument, budget: int) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._active: set[int] = set()  # guards against recursive aliases
        self._budget = budget
        self._exhausted = False

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def _report(self, code: codes.Code, node: yaml.Node, message: str) -> None:
        self.diagnostics.append(code.at(Position(self.doc.path, *self._pos(node)), message))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        # Runs once per node of every spec (about 125,000 at 1,000 projects): kept lean.
        if path not in self.doc.value_positions:
            self.doc.value_positions[path] = self._pos(node)
        self._budget -= 1
        if self._budget < 0:
            if not self._exhausted:
                self._exhausted = True
                self._report(codes.UNSAFE_YAML, node, "aliases expand this document far beyond "
                                                      "its text; write the data out instead")
            return None
        if len(path) > MAX_DEPTH:
            self._report(codes.UNSAFE_YAML, node, f"nested more than {MAX_DEPTH} levels deep")
            return None
        kind = type(node)
        if kind is yaml.ScalarNode:  # never in _active: only collections can contain themselves
            return self._scalar(node)
        if id(node) in self._active:
            self._report(codes.UNSAFE_YAML, node, "recursive alias: the anchored collection here "
                                                  "contains itself")
            return None
        self._active.add(id(node))
        try:
            if kind is yaml.SequenceNode:
                if node.tag != _SEQ:
                    self._bad_tag(node)
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            if node.tag != _MAP:
                self._bad_tag(node)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _PLAIN:
            value = node.value
            if value[:1] not in _TYPED_FIRST_CHARS:
                return value  # what the resolver would say: a string
            tag = _plain_tag(value)
        ctor = _SCALAR_CONSTRUCTORS.get(tag)
        if ctor is None:
            self._bad_tag(node)
            return None
        try:
            return ctor(self._constructor, node)
        except Exception:  # noqa: BLE001 - PyYAML's constructors raise KeyError, IndexError, ValueError...
            # (`!!bool maybe` is a KeyError, `!!int ""` an IndexError, a 5,000-digit int a ValueError).
            if node.tag == _PLAIN:
                return node.value  # it only looked like a number: the text it is (the schema decides)
            short = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            self._report(codes.BAD_TAGGED_VALUE, node, f"`{short}` is not a `{node.tag.replace('tag:yaml.org,2002:', '!!')}` "
                                                       f"value; remove the tag or write a valid value")
            return None

    def _bad_tag(self, node: yaml.Node) -> None:
        self._report(codes.UNSAFE_YAML, node, f"tag `{node.tag}` is not allowed: only plain YAML "
                                              f"(mappings, lists, strings, numbers, booleans) is read")

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._report(codes.WRONG_TYPE, node, "a mapping key must be a plain name, not a "
                                                 + ("list" if isinstance(node, yaml.SequenceNode) else "mapping"))
            return None
        if node.tag != _PLAIN and node.tag not in _SCALAR_CONSTRUCTORS:
            self._bad_tag(node)
            return None
        return node.value

    def _pairs(self, node: yaml.MappingNode) -> tuple[list, list]:
        """The mapping's own (key, value) nodes and, after them, those merged in with `<<`
        (own keys win, earlier merges win over later ones, as YAML's merge key specifies)."""
        for key_node, _ in node.value:  # _is_merge_key, inlined: it runs for every key
            if key_node.tag == _MERGE or (key_node.tag == _PLAIN and key_node.value == "<<"):
                break
        else:
            return node.value, []  # the usual mapping, without `<<`
        own, merged = [], []
        for key_node, value_node in node.value:
            if not _is_merge_key(key_node):
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self._report(codes.YAML_SYNTAX, source, "`<<` merges a mapping or a list of mappings")
                elif id(source) in self._active:
                    self._report(codes.UNSAFE_YAML, source, "recursive alias: a mapping merges itself")
                else:
                    self._active.add(id(source))
                    try:
                        inner_own, inner_merged = self._pairs(source)
                    finally:
                        self._active.discard(id(source))
                    merged.extend(inner_own + inner_merged)
        return own, merged

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        result: dict = {}
        own, merged = self._pairs(node)
        first_seen: dict[str, int] = {}
        key_positions, value_positions = self.doc.key_positions, self.doc.value_positions
        for index, (key_node, value_node) in enumerate(own + merged if merged else own):
            if type(key_node) is yaml.ScalarNode and key_node.tag == _PLAIN:
                key = key_node.value  # the usual key, a plain name: what _key would say
            else:
                key = self._key(key_node)
                if key is None:
                    continue
            if key in result:
                if index < len(own):
                    self._report(codes.DUPLICATE_KEY, key_node,
                                 f"duplicate key `{key}` (first on line {first_seen[key]}); YAML would "
                                 f"silently keep only the last value")
                continue
            key_mark, value_mark = key_node.start_mark, value_node.start_mark
            first_seen[key] = key_mark.line + 1
            child = path + (key,)
            key_positions[child] = key_mark.line + 1, key_mark.column + 1
            value_positions[child] = value_mark.line + 1, value_mark.column + 1
            if type(value_node) is yaml.ScalarNode and self._budget > 0 and len(child) <= MAX_DEPTH:
                # What build() does for a scalar within budget and depth, without the call: most
                # values are scalars.
                self._budget -= 1
                result[key] = self._scalar(value_node)
            else:
                result[key] = self.build(value_node, child)
        return result
