"""Evaluation gates: well-formed, and only on metrics the evaluation declares."""

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
                elif gate.metric not in evaluation.metrics:
                    yield codes.GATE_UNKNOWN_METRIC.at(
                        pos, f"gate `{text}` tests `{gate.metric}`, which evaluation `{name}` does not "
                             f"declare in metrics{did_you_mean(gate.metric, evaluation.metrics)}")
