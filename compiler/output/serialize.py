"""Deterministic serialisation: the same documents always give the same bytes.

YAML goes through libyaml (CSafeDumper), byte for byte what `yaml.dump` writes, but faster: the
representer, PyYAML's pure-Python layer that turns data into nodes for libyaml, is most of the
time a compile spends serialising. `_FastDumper` builds the same nodes in one tight function for
the plain types documents hold (dict, list, str, int, float, bool, None), keeps PyYAML's own code
for anything else, and remembers how each scalar resolves. tests/test_output_serialize.py checks
the bytes against `yaml.dump` on every document the back ends emit and on generated data.
"""

from __future__ import annotations

import functools
import json

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..backends import Document

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_INT, _BOOL, _NULL = "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"


# libyaml asks the resolver about every scalar it writes. Without path resolvers (SafeDumper has
# none) the answer depends only on the arguments, and documents repeat the same keys endlessly.
assert not _Dumper.yaml_path_resolvers
_resolve = functools.lru_cache(maxsize=1 << 16)(yaml.resolver.Resolver().resolve)


class _FastDumper(_Dumper):
    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            return _resolve(kind, value, tuple(implicit))
        return super().resolve(kind, value, implicit)

    def represent(self, data):
        self.serialize(self._node(data, {}))
        self.represented_objects = {}
        self.object_keeper = []
        self.alias_key = None

    def _node(self, data, seen: dict):
        """The node SafeRepresenter.represent_data makes for `data` (same tags, styles, aliases)."""
        kind = type(data)
        if kind is str:
            return ScalarNode(_STR, data)
        if kind is dict or kind is list:
            node = seen.get(id(data))
            if node is not None:  # the same object twice: libyaml writes an anchor and an alias
                return node
            self.object_keeper.append(data)
            value: list = []
            if kind is dict:
                node = MappingNode(_MAP, value)
                items = list(data.items())
                if self.sort_keys:
                    try:
                        items = sorted(items)
                    except TypeError:
                        pass
                seen[id(data)] = node
                # Strings are most keys and values: made here rather than in a call each.
                for k, v in items:
                    value.append((ScalarNode(_STR, k) if type(k) is str else self._node(k, seen),
                                  ScalarNode(_STR, v) if type(v) is str else self._node(v, seen)))
            else:
                node = SequenceNode(_SEQ, value)
                seen[id(data)] = node
                for item in data:
                    value.append(ScalarNode(_STR, item) if type(item) is str else self._node(item, seen))
            node.flow_style = (self.default_flow_style if self.default_flow_style is not None
                               else all(isinstance(n, ScalarNode) and not n.style
                                        for pair in value for n in (pair if kind is dict else (pair,))))
            return node
        if kind is bool:
            return ScalarNode(_BOOL, "true" if data else "false")
        if kind is int:
            return ScalarNode(_INT, str(data))
        if data is None:
            return ScalarNode(_NULL, "null")
        # Floats and anything unusual: PyYAML's own representer, so nothing can differ.
        return self.represent_data(data)


def dump_yaml(obj, *, sort_keys: bool) -> str:
    return yaml.dump(obj, Dumper=_FastDumper, sort_keys=sort_keys, default_flow_style=False,
                     allow_unicode=True)


def serialize(doc: Document) -> bytes:
    if doc.format == "text":
        text = doc.content
    elif doc.format == "json":
        text = json.dumps(doc.content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif doc.format == "yaml":
        text = doc.header + dump_yaml(doc.content, sort_keys=doc.sort_keys)
    elif doc.format == "yaml-stream":
        text = doc.header + yaml.dump_all(doc.content, Dumper=_FastDumper, sort_keys=doc.sort_keys,
                                          default_flow_style=False, allow_unicode=True)
    else:  # pragma: no cover - Document.format is a closed set
        raise ValueError(doc.format)
    return text.encode("utf-8")
