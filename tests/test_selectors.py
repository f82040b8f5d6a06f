"""Selectors: each dbt form picks exactly the nodes a user expects in the contract's examples."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

from compiler.build import Layout, load_and_check
from compiler.frontend.loader import UsageError
from compiler.middle.selectors import SelectorError, select_nodes, select_projects

FRAUD = "risk/fraud-detection"
RECS = "growth/merchant-recs"
TRANSACTIONS = f"{FRAUD}:sources.transactions"
FRAUD_MODEL = f"{FRAUD}:steps.train.outputs.model"
RECS_API = f"{RECS}:serving.recs-api"


@pytest.fixture(scope="module")
def graph():
    checked = load_and_check(Layout(EXAMPLES))
    assert not checked.has_errors
    return checked.lineage.graph


def test_bare_node_id_selects_only_that_node(graph):
    assert select_nodes(graph, TRANSACTIONS) == {TRANSACTIONS}


def test_trailing_plus_adds_descendants_across_teams(graph):
    selected = select_nodes(graph, TRANSACTIONS + "+")
    assert TRANSACTIONS in selected
    assert f"{FRAUD}:serving.fraud-api.environments.production" in selected
    assert RECS_API in selected  # growth serves a model trained on risk's transactions
    assert f"{FRAUD}:sources.chargebacks" not in selected  # a sibling input, not downstream
    assert f"{RECS}:sources.sessions" not in selected


def test_leading_plus_adds_ancestors(graph):
    selected = select_nodes(graph, "+" + RECS_API)
    assert {TRANSACTIONS, f"{FRAUD}:sources.chargebacks", f"{RECS}:sources.sessions",
            FRAUD_MODEL, f"{RECS}:steps.train.code"} <= selected
    assert f"{FRAUD}:serving.fraud-api" not in selected  # a sibling consumer, not upstream
    assert all(d not in selected for d in graph.successors(RECS_API))


def test_both_pluses_add_ancestors_and_descendants(graph):
    selected = select_nodes(graph, f"+{FRAUD_MODEL}+")
    assert TRANSACTIONS in selected and RECS_API in selected
    assert f"{RECS}:sources.merchants" not in selected  # feeds the same step, but is not connected through the model
    assert selected == ({FRAUD_MODEL} | select_nodes(graph, "+" + FRAUD_MODEL)
                        | select_nodes(graph, FRAUD_MODEL + "+"))


def test_team_method_selects_every_node_of_the_team(graph):
    selected = select_nodes(graph, "team:growth")
    assert selected == {n for n, d in graph.nodes(data=True) if d["team"] == "growth"}
    assert RECS_API in selected and TRANSACTIONS not in selected


def test_project_method_selects_one_project(graph):
    selected = select_nodes(graph, f"project:{FRAUD}")
    assert {graph.nodes[n]["project"] for n in selected} == {FRAUD}
    assert len(selected) == sum(1 for _, p in graph.nodes(data="project") if p == FRAUD)


def test_kind_method_selects_every_node_of_a_kind(graph):
    assert select_nodes(graph, "kind:serving") == {f"{FRAUD}:serving.fraud-api", RECS_API}


def test_space_separated_terms_are_a_union(graph):
    assert select_nodes(graph, f"kind:serving {TRANSACTIONS}") == \
        select_nodes(graph, "kind:serving") | {TRANSACTIONS}


def test_comma_is_an_intersection_and_operators_apply_to_methods(graph):
    assert select_nodes(graph, "kind:serving,team:growth") == {RECS_API}
    upstream_sources = select_nodes(graph, f"+{RECS_API},kind:source")
    assert upstream_sources == {TRANSACTIONS, f"{FRAUD}:sources.chargebacks",
                                f"{RECS}:sources.merchants", f"{RECS}:sources.sessions"}


def test_select_projects_gives_project_keys(graph):
    assert select_projects(graph, TRANSACTIONS + "+") == {FRAUD, RECS}
    assert select_projects(graph, "team:growth") == {RECS}
    assert select_projects(graph, "+" + TRANSACTIONS) == {FRAUD}


@pytest.mark.parametrize("expression, message", [
    ("team:rsk", "no team `rsk` in the lineage graph (did you mean `risk`?)"),
    ("project:risk/fraud", "(did you mean `risk/fraud-detection`?)"),
    ("kind:servng", "`servng` is not a node kind (did you mean `serving`?)"),
    ("risk/fraud-detection:sources.transaction", "(did you mean `risk/fraud-detection:sources.transactions`?)"),
    ("sources.transactions", "risk/fraud-detection:sources.transactions"),
    ("risk/fraud-detection", "write `project:risk/fraud-detection`"),
    ("tag:nightly", "unknown selector method `tag:`"),
    ("++kind:serving", "one `+` goes before"),
    ("", "empty selector"),
    ("kind:serving,", "an empty term"),
])
def test_bad_selectors_say_what_to_write_instead(graph, expression, message):
    with pytest.raises(SelectorError) as info:
        select_nodes(graph, expression)
    assert message in str(info.value)
    assert isinstance(info.value, UsageError)  # the CLI turns it into exit code 2
