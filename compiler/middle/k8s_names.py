"""The grammars Kubernetes holds names, keys and label values to, for every rule that checks one.

They follow apimachinery's validation (IsDNS1123Label, IsDNS1035Label, IsDNS1123Subdomain,
IsQualifiedName, IsValidLabelValue, IsEnvVarName, IsConfigMapKey): one copy here, so a namespace,
a Secret name or an annotation key is held to the same grammar whichever setting it comes from. The patterns end
in `\\Z`, not `$`, which would let a trailing newline through (YAML's `|` block scalars end in one).
"""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")  # a Service name
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+\Z")  # a ConfigMap or Secret data key
MAX_LABEL = 63
MAX_SUBDOMAIN = 253


def is_dns1123_label(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_LABEL and bool(DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """An object name: a Secret, a ServiceAccount, a ServingRuntime, a label key's prefix."""
    return len(name) <= MAX_SUBDOMAIN and bool(DNS1123_SUBDOMAIN.match(name))


def is_config_key(key: str) -> bool:
    """IsConfigMapKey: also neither `.` nor `..`, nor starting with `..` (a key is a file name
    in a mounted volume, and `..data` is the kubelet's own)."""
    return (len(key) <= MAX_SUBDOMAIN and bool(CONFIG_KEY.match(key)) and key not in (".", "..")
            and not key.startswith(".."))


def dns1123_label_message(what: str, name: object) -> str:
    text = str(name)
    why = f"longer than {MAX_LABEL} characters" if len(text) > MAX_LABEL else "not a DNS-1123 label"
    suggestion = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:MAX_LABEL]
    hint = f" (try `{suggestion}`)" if suggestion and suggestion != text and is_dns1123_label(suggestion) else ""
    return f"{what} `{text}` is {why}: use lowercase letters, digits and '-'{hint}"


def subdomain_suggestion(name: str) -> str | None:
    """`name` lowercased with other characters made '-', if that is a valid object name it is not."""
    suggestion = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return suggestion if suggestion and suggestion != name and is_dns1123_subdomain(suggestion) else None


def label_value_problem(value: str) -> str | None:
    if len(value) > MAX_LABEL:
        return f"is {len(value)} characters (a label value has at most {MAX_LABEL})"
    if not LABEL_VALUE.match(value):
        return "may hold only letters, digits, '-', '_' and '.', and start and end with a letter or digit"
    return None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a label (or annotation) key `[<DNS-1123 subdomain>/]<qualified name>`."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or not is_dns1123_subdomain(prefix)):
        return f"has the prefix `{prefix}`, which is not a DNS-1123 subdomain (lowercase, at most 253)"
    if not name or len(name) > MAX_LABEL or not QUALIFIED_NAME.match(name):
        return (f"has the name `{name}`: at most 63 letters, digits, '-', '_' and '.', starting and "
                f"ending alphanumeric")
    return None
