"""Evaluation gates: well-formed, only on metrics the evaluation declares, and unambiguous in the
evidence of every serving target they gate."""

from __future__ import annotations

from ... import codes
from ...frontend.loader import did_you_mean
from ..gates import parse_gate
from . import RuleContext, rule


@rule
def gates_well_formed(ctx: RuleContext):
    for project in ctx.repo.projects:
        for name, evaluation in project.model.spec.evaluations.items():
            for i, text in enumerate(evaluation.gates):
                pos = project.doc.position(("spec", "evaluations", name, "gates", i))
                gate = parse_gate(text)
                if gate is None:
                    yield codes.MALFORMED_GATE.at(pos, f"gate `{text}` is not `<metric> <op> <number>` "
                                                       f"(op: >=, >, <=, <, ==, !=), e.g. `auc >= 0.92`")
                elif gate.metric not in evaluation.metrics and \
                        not project.is_broken(("spec", "evaluations", name, "metrics")):
                    yield codes.GATE_UNKNOWN_METRIC.at(
                        pos, f"gate `{text}` tests `{gate.metric}`, which evaluation `{name}` does not "
                             f"declare in metrics{did_you_mean(gate.metric, evaluation.metrics)}")


@rule
def gating_metrics_distinct(ctx: RuleContext):
    """The release task records each metric of every gating evaluation under its bare name, so
    two of them declaring one name would leave the evidence unable to hold both values."""
    for project in ctx.repo.projects:
        spec = project.model.spec
        for name, target in spec.serving.items():
            owner: dict[str, str] = {}
            for index, evaluation_name in enumerate(target.gates):
                evaluation = spec.evaluations.get(evaluation_name)
                if evaluation is None or evaluation_name in owner.values():
                    continue  # unknown evaluations are G003; a repeated one adds no new metric
                for metric in evaluation.metrics:
                    if owner.get(metric, evaluation_name) == evaluation_name:
                        owner[metric] = evaluation_name  # a metric listed twice in one evaluation is N002
                    else:
                        yield codes.METRIC_CLASH.at(
                            project.doc.position(("spec", "serving", name, "gates", index)),
                            f"evaluations `{owner[metric]}` and `{evaluation_name}` both declare metric "
                            f"`{metric}`, but the evidence of `{name}` holds one value per metric: rename one")
