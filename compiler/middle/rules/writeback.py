"""gitops.writeBack: the Secret the release task pushes with and the branches it pushes."""

from __future__ import annotations

from ... import codes, layout
from ..k8s_names import is_config_key, is_dns1123_subdomain, subdomain_suggestion
from . import RuleContext, rule


@rule
def write_back(ctx: RuleContext):
    doc = ctx.repo.config_doc
    wb = ctx.config.gitops.writeBack
    if doc is None or wb is None:
        return
    where = ("gitops", "writeBack")
    secret, key = wb.credentials.secret, wb.credentials.key
    if not is_dns1123_subdomain(secret):
        hint = subdomain_suggestion(secret)
        yield codes.WRITEBACK_SECRET_NAME.at(
            doc.position(where + ("credentials", "secret")),
            f"`{secret}` is not a Secret name: use lowercase letters, digits, '-' and '.'"
            + (f" (try `{hint}`)" if hint else ""))
    if not is_config_key(key):
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
