"""W004: an environment that serves a model with less capacity than the environment it promotes
from. Staging proved the model with its replicas, CPU and memory; production getting fewer
replicas or smaller pods (often by leaving `resources` out, so the 1 CPU/2Gi default applies)
is rarely meant, so it is a warning that names both sides."""

from __future__ import annotations

from ... import codes, layout
from ...frontend.models import ServingEnvironment
from ..quantity import QuantityError, parse_quantity
from . import RuleContext, rule


def resources_of(se: ServingEnvironment) -> dict[str, tuple[object, bool]]:
    """cpu and memory per replica: (value, whether it is the default because none is set)."""
    given = se.resources
    out = {}
    for field in ("cpu", "memory"):
        value = getattr(given, field, None) if given is not None else None
        out[field] = (value, False) if value is not None else (layout.SERVING_RESOURCES[field], True)
    return out


def describe_capacity(se: ServingEnvironment) -> str:
    """`replicas 3–12, cpu 2, memory 4Gi` (with `(default)` where nothing is set)."""
    parts = [f"replicas {se.replicas.min}–{se.replicas.max}"]
    for field, (value, default) in resources_of(se).items():
        parts.append(f"{field} {value}{' (default)' if default else ''}")
    return ", ".join(parts)


def shortfalls(se: ServingEnvironment, source: ServingEnvironment) -> list[str]:
    """Where `se` has less than `source`: fewer replicas, smaller cpu or memory."""
    found = []
    for bound in ("min", "max"):
        mine, theirs = getattr(se.replicas, bound), getattr(source.replicas, bound)
        if mine < theirs:
            found.append(f"replicas.{bound} {mine} < {theirs}")
    ours, theirs = resources_of(se), resources_of(source)
    for field in ("cpu", "memory"):
        try:
            smaller = parse_quantity(ours[field][0]) < parse_quantity(theirs[field][0])
        except QuantityError:
            continue  # K002 reports it
        if smaller:
            default = " (the default)" if ours[field][1] else ""
            found.append(f"{field} {ours[field][0]}{default} < {theirs[field][0]}")
    return found


@rule
def promotion_capacity(ctx: RuleContext):
    envs = ctx.config.environments
    for project in ctx.repo.projects:
        for name, target in project.model.spec.serving.items():
            for env, se in target.environments.items():
                source = envs[env].promotesFrom if env in envs else None
                if source is None or source not in target.environments:
                    continue
                if se.release is None and se.canary is None:
                    continue  # serves nothing yet
                short = shortfalls(se, target.environments[source])
                if short:
                    yield codes.PROMOTION_SHRINKS.at(
                        project.doc.key_position(("spec", "serving", name, "environments", env)),
                        f"`{name}` would serve in `{env}` with less than in `{source}`, which it promotes "
                        f"from: {', '.join(short)}; set `replicas` and `resources` under "
                        f"environments.{env} (at least {source}'s)")
