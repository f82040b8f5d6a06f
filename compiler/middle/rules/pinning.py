"""Pinning: every input of a model is named exactly (data versions, code commits, image digests)."""

from __future__ import annotations

import re

from ... import codes
from ..images import IMAGE_DIGEST, SHA256_DIGEST, image_registry, registry_allowed
from . import RuleContext, containers_in, releases_in, rule, tasks

GIT_SHA = re.compile(r"^[0-9a-f]{40}\Z")
# White space as str.isspace means it (re's \s is the same set), found in one C pass.
_WHITE_SPACE = re.compile(r"\s")
SOURCE_SCHEMES = ("s3", "gs", "abfss", "hdfs", "https", "pvc", "bq", "table")
# Labels that move: a version written like this names no particular snapshot.
MOVING_LABELS = {"", "latest", "current", "head", "main", "master", "stable", "newest", "live", "*", "any"}


def source_version_problem(version: object) -> str | None:
    text = str(version).strip()
    if text.lower() in MOVING_LABELS:
        return f"version `{text}` is a moving label, not a pinned snapshot"
    if text.startswith("sha256:") and not SHA256_DIGEST.match(text):
        return f"version `{text}` is not `sha256:` followed by 64 lowercase hex digits"
    if text.startswith("git:") and not GIT_SHA.match(text[4:]):
        return f"version `{text}` is not `git:` followed by a 40-hex commit id"
    if _WHITE_SPACE.search(text):
        return f"version `{text}` contains white space"
    return None


@rule
def sources_pinned(ctx: RuleContext):
    for project in ctx.repo.projects:
        for name, src in project.model.spec.sources.items():
            base = ("spec", "sources", name)
            # `live` is checked where it is read (M007: only continuous evaluations may).
            problem = None if str(src.version).strip() == "live" else source_version_problem(src.version)
            if problem:
                yield codes.UNPINNED_SOURCE.at(project.doc.position(base + ("version",)),
                                               f"source `{name}`: {problem}")
            scheme = src.uri.partition("://")[0] if "://" in src.uri else ""
            if scheme not in SOURCE_SCHEMES:
                yield codes.INVALID_URI.at(project.doc.position(base + ("uri",)),
                                           f"source `{name}`: uri `{src.uri}` must start with one of "
                                           + ", ".join(f"{s}://" for s in SOURCE_SCHEMES))


@rule
def images_pinned(ctx: RuleContext):
    policy = ctx.config.policy
    for project in ctx.repo.projects:
        for path, item in containers_in(project):
            yield from image_policy(project.doc.position(path + ("image",)), item.image, policy)


def image_policy(position, image: str, policy, what: str = "image", digest_hint: str = ""):
    """P002 and P003: mlopsc.yaml's `policy` on an image of a spec or of mlopsc.yaml (`what`)."""
    if policy.requireDigests and not IMAGE_DIGEST.search(image):
        yield codes.IMAGE_NOT_PINNED.at(position, f"{what} `{image}` is not pinned by digest: "
                                                  f"write it as `<repo>@sha256:<64 hex>`{digest_hint}")
    if not registry_allowed(image, policy.allowedRegistries):
        yield codes.REGISTRY_NOT_ALLOWED.at(
            position, f"{'' if what == 'image' else what + ': '}image registry `{image_registry(image)}` is "
                      f"not allowed (policy.allowedRegistries: {', '.join(policy.allowedRegistries)})")


@rule
def commits_pinned(ctx: RuleContext):
    for project in ctx.repo.projects:
        for task in tasks(project):
            commit = task.item.code.commit
            if not GIT_SHA.match(commit):
                yield codes.COMMIT_NOT_PINNED.at(project.doc.position(task.path + ("code", "commit")),
                                                 f"code.commit `{commit}` is not a full 40-hex commit id "
                                                 f"(branches and short ids move)")


@rule
def release_digests(ctx: RuleContext):
    for project in ctx.repo.projects:
        for _, _, _, path, rel in releases_in(project):
            if rel is not None and not SHA256_DIGEST.match(rel.digest):
                yield codes.DIGEST_MALFORMED.at(project.doc.position(path + ("digest",)),
                                                f"release digest `{rel.digest}` is not `sha256:<64 hex>`")
