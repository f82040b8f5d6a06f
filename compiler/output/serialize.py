"""Deterministic serialisation: the same documents always give the same bytes."""

from __future__ import annotations

import json

import yaml

from ..backends import Document

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(obj, *, sort_keys: bool) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False,
                     allow_unicode=True)


def serialize(doc: Document) -> bytes:
    if doc.format == "text":
        text = doc.content
    elif doc.format == "json":
        text = json.dumps(doc.content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif doc.format == "yaml":
        text = doc.header + dump_yaml(doc.content, sort_keys=doc.sort_keys)
    elif doc.format == "yaml-stream":
        text = doc.header + yaml.dump_all(doc.content, Dumper=_Dumper, sort_keys=doc.sort_keys,
                                          default_flow_style=False, allow_unicode=True)
    else:  # pragma: no cover - Document.format is a closed set
        raise ValueError(doc.format)
    return text.encode("utf-8")
