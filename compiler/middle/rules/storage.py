"""mlopsc.yaml `storage`: placeholders, annotation keys and values, Secret names, the pipeline
service account, and anything that looks like a credential (compiler/middle/storage.py merges it).

Strings are checked as written (placeholders, credentials) and then once `{team}` and `{env}` are
replaced, for every team and environment the level applies to: a name that only breaks for one
team is still an error at the line that wrote it, and the message names that team.
"""

from __future__ import annotations

import re

from ... import codes, layout
from ..credentials import looks_like_credential, named_like_credential
from ..k8s_names import MAX_LABEL, QUALIFIED_NAME, is_dns1123_subdomain, subdomain_suggestion
from ..storage import (ANNOTATIONS, FIELD_PATHS, PIPELINE_SA, SECRETS, field_value, substitute,
                       unknown_placeholders)
from . import RuleContext, rule

RESERVED_PREFIX = "mlopsc.dev"
# Annotation namespaces of the identity systems and KServe: their keys name settings, never
# secrets (`eks.amazonaws.com/token-expiration` is a number of seconds), so a key there named like
# a credential is not one. Their values are still checked.
IDENTITY_PREFIXES = ("iam.gke.io", "eks.amazonaws.com", "azure.workload.identity", "serving.kserve.io")
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# What the systems that read these annotations accept, and how to say it.
KNOWN_VALUES: dict[str, tuple[re.Pattern, str]] = {
    "iam.gke.io/gcp-service-account": (
        re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9][a-z0-9.:-]*\.gserviceaccount\.com\Z"),
        "a Google service account email, `<name>@<project>.iam.gserviceaccount.com`, whose name "
        "has 6 to 30 lowercase letters, digits and '-'"),
    "eks.amazonaws.com/role-arn": (
        re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}\Z"),
        "an IAM role ARN, `arn:aws:iam::<12-digit account>:role/<name>`"),
    "eks.amazonaws.com/token-expiration": (re.compile(r"^\d+\Z"), "a number of seconds, e.g. `86400`"),
    "eks.amazonaws.com/sts-regional-endpoints": (re.compile(r"^(true|false)\Z"), "`true` or `false`"),
    "azure.workload.identity/client-id": (re.compile(f"^{UUID}\\Z"), "a client id (a UUID)"),
    "azure.workload.identity/tenant-id": (re.compile(f"^{UUID}\\Z"), "a tenant id (a UUID)"),
    "serving.kserve.io/s3-endpoint": (
        re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?\Z"),
        "a host with an optional port and no scheme (KServe adds `https://` or `http://` "
        "from `serving.kserve.io/s3-usehttps`)"),
    "serving.kserve.io/s3-usehttps": (re.compile(r"^[01]\Z"), "`1` or `0`"),
    "serving.kserve.io/s3-verifyssl": (re.compile(r"^[01]\Z"), "`1` or `0`"),
}


def _levels(ctx: RuleContext):
    """(path of the storage mapping, Storage, teams it applies to, environments it applies to)."""
    config = ctx.config
    teams, envs = layout.teams(ctx.config, ctx.repo.projects), list(config.environments)
    if config.storage is not None:
        yield ("storage",), config.storage, teams, envs
    for team, team_config in sorted((config.teams or {}).items()):
        if team_config.storage is not None:
            yield ("teams", team, "storage"), team_config.storage, [team], envs
    for env, env_config in config.environments.items():
        if env_config.storage is not None:
            yield ("environments", env, "storage"), env_config.storage, teams, [env]


def _strings(storage):
    """(field, path inside the storage mapping, text, is an annotation key) for every string."""
    for key, value in (field_value(storage, ANNOTATIONS) or {}).items():
        path = FIELD_PATHS[ANNOTATIONS] + (key,)
        yield ANNOTATIONS, path, key, True
        yield ANNOTATIONS, path, value, False
    for i, name in enumerate(field_value(storage, SECRETS) or []):
        yield SECRETS, FIELD_PATHS[SECRETS] + (i,), name, False
    value = field_value(storage, PIPELINE_SA)
    if value is not None:
        yield PIPELINE_SA, FIELD_PATHS[PIPELINE_SA], value, False


def _credential(text: str, is_key: bool) -> str | None:
    if is_key:
        prefix, _, name = text.rpartition("/")
        if prefix not in IDENTITY_PREFIXES and named_like_credential(name):
            return "is named like a credential and has a literal value"
        return None
    if looks_like_credential(text):
        return "looks like a credential"
    return None


@rule
def storage(ctx: RuleContext):
    doc = ctx.repo.config_doc
    if doc is None:
        return
    for base, settings, teams, envs in _levels(ctx):
        env_level = base[0] == "environments"
        if env_level and settings.pipelineServiceAccount is not None:
            yield codes.STORAGE_LEVEL.at(
                doc.key_position(base + ("pipelineServiceAccount",)),
                f"`pipelineServiceAccount` is set on environment `{base[1]}`, but pipeline runs belong to "
                f"a team's Kubeflow namespace, not to an environment: set it in the repository's "
                f"`storage` or in `teams.<team>.storage`")
        for name, path, text, is_key in _strings(settings):
            if name == PIPELINE_SA and env_level:
                continue
            where = doc.key_position(base + path) if is_key else doc.position(base + path)
            problem = _placeholder_problem(name, text)
            if problem:
                yield codes.STORAGE_PLACEHOLDER.at(where, problem)
                continue
            why = _credential(text, is_key)
            if why:
                yield codes.STORAGE_CREDENTIAL.at(
                    where, f"{_describe(name, path, is_key)} {why}; mlopsc never writes a credential: "
                           f"give the pods an identity (a workload identity annotation) or list a Secret "
                           f"the platform creates in `secrets`")
                continue
            found = _substituted_problem(name, path, text, is_key, settings, teams,
                                         [None] if name == PIPELINE_SA else envs)
            if found:
                yield found[0].at(where, found[1])


def _placeholder_problem(name: str, text: str) -> str | None:
    allowed = ("team",) if name == PIPELINE_SA else ("team", "env")
    bad = unknown_placeholders(text, allowed)
    if not bad:
        return None
    if name == PIPELINE_SA and "{env}" in bad:
        return (f"`pipelineServiceAccount: {text}` uses `{{env}}`, but pipeline runs belong to a team, "
                f"not to an environment: only `{{team}}` is replaced here")
    return (f"`{bad[0]}` in `{text}` is not a placeholder: only `{{team}}` and `{{env}}` are replaced "
            f"in `storage`")


def _substituted_problem(name, path, text, is_key, settings, teams, envs):
    """The first (code, message) for this string with `{team}`/`{env}` replaced, or None."""
    for team in teams or [None]:
        for env in envs:
            value = substitute(text, team, env)
            if "{team}" in value or "{env}" in value:
                continue  # no team known to replace it with (no teams, no projects yet)
            context = _context(text, value, team, env)
            if is_key:
                problem = _key_problem(value)
                if problem:
                    return codes.ANNOTATION_KEY, f"annotation key `{value}`{context} {problem}"
            elif name == ANNOTATIONS:
                key = substitute(path[-1], team, env)
                pattern, wanted = KNOWN_VALUES.get(key, (None, None))
                if pattern is not None and not pattern.match(value):
                    return codes.ANNOTATION_VALUE, (f"`{key}: {value}`{context}: the value must be {wanted}")
            elif name == SECRETS:
                if not is_dns1123_subdomain(value):
                    return codes.SECRET_NAME, (f"Secret name `{value}`{context} is not a DNS-1123 subdomain: "
                                               f"{_subdomain_hint(value)}")
            elif not is_dns1123_subdomain(value):
                return codes.PIPELINE_SERVICE_ACCOUNT, (
                    f"`pipelineServiceAccount: {value}`{context} is not a ServiceAccount name: "
                    f"{_subdomain_hint(value)}")
    return None


def _context(text: str, value: str, team, env) -> str:
    if text == value:
        return ""
    where = ", ".join(f"{k} `{v}`" for k, v in (("team", team), ("environment", env)) if v is not None
                      and f"{{{'env' if k == 'environment' else k}}}" in text)
    return f" (`{text}` for {where})"


def _describe(name: str, path: tuple, is_key: bool) -> str:
    if name == ANNOTATIONS:
        return f"annotation `{path[-1]}`" if is_key else f"the value of annotation `{path[-1]}`"
    if name == SECRETS:
        return "a Secret name"
    return "`pipelineServiceAccount`"


def _subdomain_hint(value: str) -> str:
    if len(value) > 253:
        return "longer than 253 characters"
    suggestion = subdomain_suggestion(value)
    hint = f" (try `{suggestion}`)" if suggestion else ""
    return f"use lowercase letters, digits, '-' and '.'{hint}"


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "has an empty prefix before `/`"
    if prefix and "/" in prefix:
        return "has more than one `/`: a key is `[<prefix>/]<name>`"
    if prefix and not is_dns1123_subdomain(prefix):
        return f"has a prefix `{prefix}` that is not a DNS-1123 subdomain (lowercase, at most 253 characters)"
    if prefix == RESERVED_PREFIX or prefix.endswith("." + RESERVED_PREFIX):
        return f"uses `{RESERVED_PREFIX}/`, which mlopsc keeps for its own lineage annotations"
    if not name:
        return "has no name after the prefix"
    if len(name) > MAX_LABEL:
        return f"has a name part of {len(name)} characters; at most {MAX_LABEL}"
    if not QUALIFIED_NAME.match(name):
        return ("has a name part that is not a qualified name: letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit")
    return None
