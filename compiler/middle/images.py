"""Image references: their grammar (github.com/distribution/reference), their registry, their digest.

One copy for the rules that check an image can be pulled (K019), that it is pinned by digest and
comes from an allowed registry (P002/P003, for spec images and kubeflow.releaseImage alike), and for
sha256 digests wherever they are written (release digests P005, evidence).
"""

from __future__ import annotations

import re

SHA256_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")  # an image reference pinned by digest
# The image reference grammar (github.com/distribution/reference): a path of lowercase
# components, an optional registry host (it has a `.` or `:`, or is `localhost`), tag and digest.
PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
DOMAIN = re.compile(r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
                    r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?\Z")
IPV6_DOMAIN = re.compile(r"^\[[A-Fa-f0-9:]+\](?::[0-9]+)?\Z")
TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
MAX_IMAGE_NAME = 255


def explicit_registry(name: str) -> str | None:
    """The registry host an image reference names, or None when it names none (Docker Hub): the
    first path component, if it has a `.` or `:` or is `localhost`."""
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def image_registry(image: str) -> str:
    """The registry host of an image reference, as Docker resolves it."""
    return explicit_registry(image) or "docker.io"


def registry_allowed(image: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    return any(image_registry(image) == a or image.startswith(a.rstrip("/") + "/") for a in allowed)


def holds_space_or_control(text: str) -> bool:
    """Whether `text` holds white space or a character that is not printable. Every white-space
    character but the ASCII space is unprintable, so str.isprintable (one pass in C, where a
    per-character generator cost 0.1 s at 1,000 projects) and one `in` say it all."""
    return " " in text or not text.isprintable()


def image_problem(image: str) -> str | None:
    """Why `image` is not an image reference a kubelet can pull, or None."""
    if not image or image != image.strip() or holds_space_or_control(image):
        return "is empty or holds white space or control characters"
    rest, at, digest = image.partition("@")
    if at and not SHA256_DIGEST.match(digest):
        return f"has the digest `{digest}`, which is not `sha256:` and 64 lowercase hex digits"
    name, tag = rest, ""
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = rest[:len(rest) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
        if not TAG.match(tag):
            return f"has the tag `{tag}`: at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    if len(name) > MAX_IMAGE_NAME:
        return f"has a name of {len(name)} characters (at most {MAX_IMAGE_NAME})"
    registry = explicit_registry(name)
    if registry is not None:
        path = name[len(registry) + 1:]
        if not (DOMAIN.match(registry) or IPV6_DOMAIN.match(registry)):
            return f"has the registry `{registry}`, which is not a host name with an optional port"
    else:
        path = name
    for component in path.split("/"):
        if not PATH_COMPONENT.match(component):
            hint = " (repository paths are lowercase)" if component.lower() != component else ""
            return (f"has the path component `{component}`: lowercase letters and digits, joined by "
                    f"single `.`, `_`, `__` or dashes{hint}")
    return None
