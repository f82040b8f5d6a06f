"""Model cards: one Markdown page per project (generated/model-cards/<team>/<project>.md), outside
every synced path. Owners, sources with versions, code commits, gates, and per serving environment
the pinned release and canary, their evidence against each gate and where they came from.

The card is built as plain data here (sorted, so it is deterministic) and laid out by the Jinja2
template `templates/model_card.md.j2`.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from ..frontend.history import HistoryEntry
from ..frontend.loader import LoadedProject
from ..middle import promotion
from ..middle.check import CheckedRepository
from ..middle.cron import cron_interval_seconds
from ..middle.monitoring import BURN_ALERTS, dashboard_uid, monitor_pipeline_name, monitored_environments, slo_lines
from ..middle.rules.evidence import format_value, release_gates
from ..middle.storage import pipeline_service_account, resolve_storage
from ..layout import namespace
from . import Document, jinja_templates
from ..layout import model_card_path


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja_templates.environment(__package__, "templates", autoescape=False, trim_blocks=True,
                                      lstrip_blocks=True, keep_trailing_newline=True,
                                      undefined=jinja2.StrictUndefined)
    env.filters["cell"] = cell
    return env.get_template("model_card.md.j2")


def emit(checked: CheckedRepository) -> list[Document]:
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: each project's card."""
    return [project.key for project in checked.projects]


_history: list = [None, None]  # [checked, its history by target]: computed once per compile


def _by_target(checked: CheckedRepository) -> dict[tuple[str, str], list[HistoryEntry]]:
    if _history[0] is not checked:
        pins = promotion.current_pins(checked.projects)
        history = promotion.extend(checked.repo.promotion_history.entries, pins, checked.config)
        by_target: dict[tuple[str, str], list[HistoryEntry]] = {}
        for entry in history:
            by_target.setdefault((entry.project, entry.serving), []).append(entry)
        _history[:] = [checked, by_target]
    return _history[1]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    project = checked.lineage.projects[unit]
    meta = project.model.metadata
    card = card_context(checked, project, _by_target(checked))
    return [Document(model_card_path(meta.team, meta.name), _template().render(card=card),
                     "text", owner=project.key)]


def card_context(checked: CheckedRepository, project: LoadedProject,
                 history: dict[tuple[str, str], list[HistoryEntry]]) -> dict:
    """The card as plain data; `history`: the promotion history by (project, serving target)."""
    meta, spec = project.model.metadata, project.model.spec
    code = []
    for kind, section in (("step", spec.steps), ("evaluation", spec.evaluations)):
        for name, item in sorted(section.items()):
            code.append({"name": name, "kind": kind, "repo": item.code.repo, "commit": item.code.commit,
                         "path": item.code.path, "image": item.image})
    return {
        "key": project.key, "team": meta.team, "description": meta.description,
        "owners": sorted(meta.owners), "spec_file": project.path, "schedule": spec.schedule,
        # Only a project with steps or evaluations has a pipeline (compiler/backends/kfp).
        "has_pipeline": bool(spec.steps or spec.evaluations),
        "pipeline_service_account": pipeline_service_account(checked.config, meta.team),
        "sources": [{"name": n, "uri": s.uri, "version": str(s.version), "format": s.format, "pii": s.pii}
                    for n, s in sorted(spec.sources.items())],
        "code": code,
        "evaluations": [{"name": n, "model": e.model, "metrics": sorted(e.metrics), "gates": list(e.gates)}
                        for n, e in sorted(spec.evaluations.items())],
        "serving": [_serving(checked, project, name, history) for name in sorted(spec.serving)],
    }


def _serving(checked: CheckedRepository, project: LoadedProject, name: str,
             history: dict[tuple[str, str], list[HistoryEntry]]) -> dict:
    target = project.model.spec.serving[name]
    ours = history.get((project.key, name), [])
    if target.runtime.kserve is not None:
        runtime = f"KServe (model format `{target.runtime.kserve.format}`)"
    else:
        runtime = f"a container (`{target.runtime.container.image}`)"
    environments = []
    # Environments in mlopsc.yaml's order, which is the order of promotion.
    for env, env_config in checked.config.environments.items():
        se = target.environments.get(env)
        if se is None:
            continue
        releases = []
        if se.release is not None:
            releases.append(_release(checked, project, target, "release", se.release, None, env,
                                     env_config.promotesFrom, ours))
        if se.canary is not None:
            releases.append(_release(checked, project, target, "canary", se.canary.release,
                                     se.canary.percent, env, env_config.promotesFrom, ours))
        identity = resolve_storage(checked.config, project.model.metadata.team, env)
        environments.append({"name": env, "promotes_from": env_config.promotesFrom, "releases": releases,
                             "identity": {"service_account": name,
                                          "namespace": namespace(project.model.metadata.team, env),
                                          "annotations": sorted(identity.annotations.items()),
                                          "secrets": list(identity.secrets)}})
    return {"name": name, "model": target.model, "runtime": runtime, "gates": list(target.gates),
            "environments": environments, "monitoring": _monitoring(checked, project, name, target),
            "history": [{"seq": e.seq, "environment": e.environment, "role": e.role, "digest": e.digest,
                         "evidence": e.evidence} for e in reversed(ours)]}


def _release(checked, project, target, role, release, percent, env, source, ours) -> dict:
    record = checked.repo.evidence[release.evidence].record  # compile stops before this without it
    checks = []
    for evaluation, gate in release_gates(project, target):
        value = record.metrics[gate.metric]
        checks.append({"evaluation": evaluation, "gate": str(gate), "value": format_value(value),
                       "verdict": "pass" if gate.passes(value) else "FAIL"})
    gated = {gate.metric for _, gate in release_gates(project, target)}
    other = [(k, format_value(v)) for k, v in sorted(record.metrics.items()) if k not in gated]
    return {"role": role, "percent": percent, "uri": release.uri, "digest": release.digest,
            "evidence": release.evidence, "run": record.lineage.run,
            "pipeline_version": record.lineage.pipelineVersion, "checks": checks, "other_metrics": other,
            "origin": _origin(ours, env, source, release.digest, record)}


def _origin(ours: list[HistoryEntry], env: str, source: str | None, digest: str, record) -> str:
    here = next(e for e in ours if e.environment == env and e.digest == digest)
    text = f"pinned in {env} since promotion #{here.seq}"
    if source is not None:
        before = next((e for e in ours if e.environment == source and e.digest == digest), None)
        if before is not None:
            return f"{text}, promoted from {source}, which pinned it as {before.role} in promotion #{before.seq}"
        return f"{text}, promoted from {source}"
    run = f"pipeline run `{record.lineage.run}`" if record.lineage.run else "the pipeline"
    return f"{text}, released by {run}"


def _monitoring(checked: CheckedRepository, project: LoadedProject, name: str, target) -> dict | None:
    """SLOs per watched environment, the alerts' windows and the continuous evaluation, if any."""
    if target.monitoring is None:
        return None
    config, meta = checked.config, project.model.metadata
    envs = monitored_environments(config, target)
    window = config.monitoring.window
    alerts = {severity: " or ".join(f"{int(a.budget_share * 100)}% of the budget burns in {a.long} (checked over {a.short} too)"
                                    for a in BURN_ALERTS if a.severity == severity)
              for severity in ("page", "ticket")}
    evaluate = target.monitoring.evaluate
    evaluation = None
    if evaluate is not None:
        late = 2 * cron_interval_seconds(evaluate.schedule)
        evaluation = {"evaluation": evaluate.evaluation, "schedule": evaluate.schedule,
                      "inputs": sorted(evaluate.inputs.items()),
                      "pipeline": monitor_pipeline_name(meta.team, meta.name, name),
                      "late": f"{late // 3600} hours" if late % 86400 else f"{late // 86400} days"}
    return {"environments": envs, "window": window, "alerts": alerts,
            "slos": [{"sli": sli, "what": what, "objective": format(objective, "g")}
                     for sli, what, objective in slo_lines(target)],
            "dashboards": [(env, f"/d/{dashboard_uid(meta.team, meta.name, name, env)}") for env in envs],
            "evaluate": evaluation}
