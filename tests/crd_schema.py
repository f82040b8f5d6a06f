"""Strict validation of custom resources against the real CRDs in ../shared/crds.

The API server validates a custom resource against its CRD's openAPIV3Schema, but the CRDs we
consume never set `additionalProperties: false`, so a misspelt field passes a plain check (and is
silently pruned by the server). This helper is what kubeconform calls `-strict`:

- every object schema with `properties` (and no `x-kubernetes-preserve-unknown-fields` or
  `additionalProperties` of its own) is closed; branches of allOf/anyOf/oneOf/not are left open,
  because structural schemas only repeat properties there for value validation;
- `nullable: true` admits null, `x-kubernetes-int-or-string` admits integer or string,
  `x-kubernetes-embedded-resource` admits apiVersion/kind/metadata;
- `x-kubernetes-list-type: set` means unique items, `map` means unique `x-kubernetes-list-map-keys`;
- `metadata` is checked as ObjectMeta (closed; name a DNS-1123 subdomain; string maps), which the
  API server does itself rather than through the CRD.

Usage: `validate_strict(obj) -> list[str]`, each error `path: message`, empty when valid. The CRD is
picked by the object's apiVersion and kind; schemas are built once per process (the KServe CRD is
2 MB, loaded with yaml.CSafeLoader only when an InferenceService is validated).
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import jsonschema
import yaml

from conftest import CRDS

_DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63,
                      "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


def _list_map_keys(validator, keys, instance, schema):
    """x-kubernetes-list-type: map — items must be unique by their key fields."""
    if not isinstance(instance, list):
        return
    seen = set()
    for index, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        key = tuple(repr(item.get(k)) for k in keys)
        if key in seen:
            yield jsonschema.ValidationError(
                f"item {index} repeats the list-map key {dict(zip(keys, (item.get(k) for k in keys)))}")
        seen.add(key)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"x-kubernetes-list-map-keys": _list_map_keys})


def strict_schema(schema: dict) -> dict:
    """A copy of an openAPIV3Schema with objects closed and Kubernetes extensions translated."""
    return _close(copy.deepcopy(schema), branch=False)


def _close(node: dict, *, branch: bool) -> dict:
    if node.get("nullable"):
        node.pop("nullable")
        if "type" in node:
            node["type"] = [node["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        node.pop("anyOf", None)
        node["type"] = ["integer", "string"]
    if node.get("x-kubernetes-list-type") == "set":
        node["uniqueItems"] = True
    if node.get("x-kubernetes-embedded-resource"):
        props = node.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    for child in node.get("properties", {}).values():
        _close(child, branch=branch)
    if isinstance(node.get("items"), dict):
        _close(node["items"], branch=branch)
    if isinstance(node.get("additionalProperties"), dict):
        _close(node["additionalProperties"], branch=branch)
    for combinator in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(combinator, []):
            _close(sub, branch=True)
    if isinstance(node.get("not"), dict):
        _close(node["not"], branch=True)
    if (not branch and "properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    return node


@functools.lru_cache(maxsize=None)
def _crd_index() -> dict[tuple[str, str], Path]:
    """(group, kind) → CRD file, read from each file's head (no full parse of 2 MB files)."""
    index = {}
    for path in sorted(CRDS.glob("*.yaml")):
        head = path.read_text(encoding="utf-8")[:4000]
        group = re.search(r"^  group: (\S+)$", head, re.M)
        kind = re.search(r"^    kind: (\S+)$", head, re.M)
        if group and kind:
            index[(group[1], kind[1])] = path
    return index


@functools.lru_cache(maxsize=None)
def _crd(path: Path) -> dict:
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=yaml.CSafeLoader)


@functools.lru_cache(maxsize=None)
def validator_for(api_version: str, kind: str):
    """The strict validator for a served apiVersion/kind, or None if no CRD serves it."""
    group, _, version = api_version.rpartition("/")
    path = _crd_index().get((group, kind))
    if path is None:
        return None
    for entry in _crd(path)["spec"]["versions"]:
        if entry["name"] == version and entry.get("served", False):
            schema = strict_schema(entry["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})["metadata"] = OBJECT_META
            schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
            return _Validator(schema)
    return None


def validate_strict(obj: dict) -> list[str]:
    """Every way `obj` breaks its CRD (strictly), as `path: message`; empty when it is valid."""
    if not isinstance(obj, dict):
        return [f"<root>: not an object but {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    validator = validator_for(str(api_version), str(kind))
    if validator is None:
        return [f"<root>: no CRD in {CRDS.name}/ serves apiVersion {api_version!r} kind {kind!r}"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
