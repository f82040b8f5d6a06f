"""gitops.writeBack: the Secret the release task pushes with and the branches it pushes."""

from __future__ import annotations

import re

from ... import codes, layout
from . import RuleContext, rule

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@rule
def write_back(ctx: RuleContext):
    doc = ctx.repo.config_doc
    wb = ctx.config.gitops.writeBack
    if doc is None or wb is None:
        return
    where = ("gitops", "writeBack")
    secret, key = wb.credentials.secret, wb.credentials.key
    if len(secret) > 253 or not DNS1123_SUBDOMAIN.match(secret):
        hint = re.sub(r"[^a-z0-9.-]+", "-", secret.lower()).strip("-.")
        yield codes.WRITEBACK_SECRET_NAME.at(
            doc.position(where + ("credentials", "secret")),
            f"`{secret}` is not a Secret name: use lowercase letters, digits, '-' and '.'"
            + (f" (try `{hint}`)" if hint and DNS1123_SUBDOMAIN.match(hint) else ""))
    if len(key) > 253 or not SECRET_KEY.match(key) or key in (".", ".."):
        yield codes.WRITEBACK_SECRET_KEY.at(
            doc.position(where + ("credentials", "key")),
            f"`{key}` is not a Secret data key: use letters, digits, '-', '_' and '.'")
    prefix = wb.branchPrefix
    target = ctx.config.gitops.targetRevision
    if not prefix or not layout.is_branch_name(prefix + "x"):
        yield codes.WRITEBACK_BRANCH_PREFIX.at(
            doc.position(where + ("branchPrefix",)),
            f"branchPrefix `{prefix}` cannot start a Git branch name (no spaces, `..`, `~^:?*[\\`, "
            f"`@{{`, `//`, or a part starting with '.'): use e.g. `mlopsc/release/`")
    elif target.startswith(prefix) or target.removeprefix("refs/heads/").startswith(prefix):
        yield codes.WRITEBACK_BRANCH_PREFIX.at(
            doc.position(where + ("branchPrefix",)),
            f"branchPrefix `{prefix}` also prefixes gitops.targetRevision `{target}`: a proposal "
            f"branch must never be the branch Argo CD syncs; use e.g. `mlopsc/release/`")
