"""Storage identities: what a team's serving pods and pipeline runs authenticate to object storage as.

mlopsc.yaml may set `storage` on the repository, on a team (`teams.<t>.storage`) and on an
environment (`environments.<e>.storage`). Each of its three fields — the serving ServiceAccount's
`annotations`, its `secrets`, and the `pipelineServiceAccount` — comes from the highest level that
sets it: environment over team over repository. A level replaces a field whole (an annotations
mapping is not merged key by key: one identity never mixes with another, and `{}` clears it).

Pipeline runs belong to a team's Kubeflow namespace, not to an environment, so
`pipeline_service_account` reads the team and the repository only (an environment-level
`pipelineServiceAccount` is an error, S020). `{team}` and `{env}` are replaced in every string,
keys included; the rules in `rules/storage.py` check what comes out, with positions.
docs/STORAGE.md is the user's side of this.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from ..frontend.models import Repository, Storage

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = ("team", "env")
ANNOTATIONS, SECRETS, PIPELINE_SA = "annotations", "secrets", "pipelineServiceAccount"
# Where each field sits inside a `storage` mapping.
FIELD_PATHS = {ANNOTATIONS: ("serviceAccount", "annotations"), SECRETS: ("secrets",),
               PIPELINE_SA: ("pipelineServiceAccount",)}


@dataclass(frozen=True)
class StorageIdentity:
    """The merged storage settings of one team in one environment, placeholders replaced."""

    annotations: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    pipeline_service_account: str | None = None
    # field -> the mlopsc.yaml path of the `storage` mapping that set it (for messages and cards)
    origins: dict[str, tuple] = field(default_factory=dict)

    @property
    def serving_is_default(self) -> bool:
        """No annotations and no Secrets: the serving ServiceAccount is as bare as without `storage`."""
        return not self.annotations and not self.secrets

    def fingerprint(self) -> str:
        """A short hash of what the serving pods see: it changes exactly when their identity does."""
        data = json.dumps({"annotations": self.annotations, "secrets": list(self.secrets)},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def storage_levels(config: Repository, team: str | None, env: str | None) -> list[tuple[tuple, Storage]]:
    """The `storage` mappings that apply, highest precedence first, with their mlopsc.yaml paths."""
    found: list[tuple[tuple, Storage]] = []
    environment = config.environments.get(env) if env is not None else None
    if environment is not None and environment.storage is not None:
        found.append((("environments", env, "storage"), environment.storage))
    team_config = (config.teams or {}).get(team) if team is not None else None
    if team_config is not None and team_config.storage is not None:
        found.append((("teams", team, "storage"), team_config.storage))
    if config.storage is not None:
        found.append((("storage",), config.storage))
    return found


def field_value(storage: Storage, name: str):
    """A field of one `storage` mapping as written, None when that level does not set it."""
    if name == ANNOTATIONS:
        return storage.serviceAccount.annotations if storage.serviceAccount is not None else None
    return getattr(storage, name)


def substitute(text: str, team: str | None, env: str | None) -> str:
    """`{team}` and `{env}` replaced (when known); anything else in braces is left as written."""
    values = {"team": team, "env": env}

    def one(match: re.Match) -> str:
        value = values.get(match[1])
        return value if value is not None else match[0]

    return PLACEHOLDER.sub(one, text)


def unknown_placeholders(text: str, allowed: tuple[str, ...] = PLACEHOLDERS) -> list[str]:
    return [m[0] for m in PLACEHOLDER.finditer(text) if m[1] not in allowed]


def _pick(levels: list[tuple[tuple, Storage]], name: str):
    for path, storage in levels:
        value = field_value(storage, name)
        if value is not None:
            return path, value
    return None, None


def resolve_storage(config: Repository, team: str, env: str) -> StorageIdentity:
    """What a serving target of `team` runs as in `env`, and the team's pipeline service account."""
    levels = storage_levels(config, team, env)
    origins: dict[str, tuple] = {}
    path, annotations = _pick(levels, ANNOTATIONS)
    if path is not None:
        origins[ANNOTATIONS] = path
    path, secrets = _pick(levels, SECRETS)
    if path is not None:
        origins[SECRETS] = path
    pipeline_sa = pipeline_service_account(config, team)
    if pipeline_sa is not None:
        origins[PIPELINE_SA] = _pick(storage_levels(config, team, None), PIPELINE_SA)[0]
    return StorageIdentity(
        annotations={substitute(k, team, env): substitute(v, team, env)
                     for k, v in sorted((annotations or {}).items())},
        secrets=tuple(dict.fromkeys(substitute(s, team, env) for s in secrets or ())),
        pipeline_service_account=pipeline_sa, origins=origins)


def pipeline_service_account(config: Repository, team: str) -> str | None:
    """The ServiceAccount the team's pipeline runs (one-off and recurring) use; None: KFP's default.

    Per team, not per environment: the team's `storage.pipelineServiceAccount`, else the
    repository's. An environment's setting is never read here (rule S020 reports it)."""
    _, value = _pick(storage_levels(config, team, None), PIPELINE_SA)
    return substitute(value, team, None) if value is not None else None
