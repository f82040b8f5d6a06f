"""Safe YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them ourselves, so that
each value's path (e.g. ('spec', 'steps', 'train', 'image')) maps to its line and column. The
schema and rule stages then turn any problem found at a path into a diagnostic at the exact spot.
Only the YAML 1.1 core tags are accepted (the same set as yaml.safe_load); dates stay strings,
because a source version `2026-11-01` is an identifier, not a calendar date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .. import codes
from ..diagnostics import Diagnostic, Position

try:  # libyaml is much faster; fall back when it is not compiled in.
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_SCALAR_CONSTRUCTORS = {
    "tag:yaml.org,2002:null": lambda c, n: None,
    "tag:yaml.org,2002:bool": yaml.constructor.SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": yaml.constructor.SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.constructor.SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:str": lambda c, n: n.value,
    "tag:yaml.org,2002:timestamp": lambda c, n: n.value,
}
_MERGE = "tag:yaml.org,2002:merge"

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
        table = self.key_positions if key else self.value_positions
        probe = tuple(path)
        while probe:
            hit = table.get(probe)
            if hit is None and key:
                hit = self.value_positions.get(probe)
            if hit is not None:
                return Position(self.path, hit[0], hit[1])
            probe = probe[:-1]
        hit = self.value_positions.get(())
        return Position(self.path, *(hit or (1, 1)))

    def key_position(self, path: Path_) -> Position:
        return self.position(path, key=True)


def load_yaml(raw: bytes, path: str) -> tuple[SourceDocument, list[Diagnostic]]:
    """Parse one file. On any error the document's data is None and the diagnostics say why."""
    doc = SourceDocument(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return doc, [codes.NOT_UTF8.at(Position(path, line, column),
                                       f"file is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)")]
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return doc, [codes.YAML_SYNTAX.at(pos, problem)]
    except yaml.YAMLError as exc:  # reader errors (control characters) carry no mark
        return doc, [codes.YAML_SYNTAX.at(Position(path), str(exc).splitlines()[0])]
    if len(nodes) > 1:
        second = nodes[1].start_mark
        return doc, [codes.MULTIPLE_DOCUMENTS.at(
            Position(path, second.line + 1, second.column + 1),
            f"found {len(nodes)} YAML documents; a spec file holds exactly one")]
    if not nodes:
        doc.value_positions[()] = (1, 1)
        return doc, []
    builder = _Builder(doc)
    doc.data = builder.build(nodes[0], ())
    return doc, builder.diagnostics


class _Builder:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._active: set[int] = set()  # guards against recursive aliases

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.doc.value_positions.setdefault(path, self._pos(node))
        if id(node) in self._active:
            self.diagnostics.append(codes.UNSAFE_YAML.at(Position(self.doc.path, *self._pos(node)),
                                                         "recursive alias"))
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != "tag:yaml.org,2002:seq":
                    self._bad_tag(node)
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            if node.tag != "tag:yaml.org,2002:map":
                self._bad_tag(node)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        ctor = _SCALAR_CONSTRUCTORS.get(node.tag)
        if ctor is None:
            self._bad_tag(node)
            return None
        try:
            return ctor(self._constructor, node)
        except (ValueError, yaml.YAMLError):
            return node.value

    def _bad_tag(self, node: yaml.Node) -> None:
        self.diagnostics.append(codes.UNSAFE_YAML.at(Position(self.doc.path, *self._pos(node)),
                                                     f"tag {node.tag!r} is not allowed"))

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        result: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged = self.build(value_node, path + ("<<",))
                for part in merged if isinstance(merged, list) else [merged]:
                    if isinstance(part, dict):
                        for k, v in part.items():
                            result.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.diagnostics.append(codes.WRONG_TYPE.at(
                    Position(self.doc.path, *self._pos(key_node)), "mapping keys must be plain scalars"))
                continue
            key = self._scalar(key_node)
            if key in result:
                self.diagnostics.append(codes.DUPLICATE_KEY.at(
                    Position(self.doc.path, *self._pos(key_node)), f"duplicate key {key!r}"))
            child = path + (key,)
            self.doc.key_positions[child] = self._pos(key_node)
            self.doc.value_positions[child] = self._pos(value_node)
            result[key] = self.build(value_node, child)
        return result
