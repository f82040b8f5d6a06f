"""`mlopsc graph` and `mlopsc explain`: the lineage graph as node-link JSON, DOT and Mermaid; one
node with everything upstream and downstream of it, across teams; what a code means."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest
from conftest import EXAMPLES, edit, run_mlopsc

FRAUD_MODEL = "risk/fraud-detection:steps.train.outputs.model"


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    result = run_mlopsc("graph", "--format", "json", cwd=EXAMPLES)
    assert result.code == 0, result.err
    return nx.node_link_graph(json.loads(result.out), directed=True, multigraph=False, edges="edges")


def test_json_is_node_link_data_with_kinds_attributes_and_positions(graph):
    kinds = {kind for _, kind in graph.nodes(data="kind")}
    assert kinds == {"source", "code", "image", "step", "artifact", "evaluation", "gate", "serving", "release"}
    assert {kind for *_, kind in graph.edges(data="kind")} == {
        "reads", "produces", "built-from", "runs-image", "evaluates", "gated-by", "serves", "releases"}
    for node, data in graph.nodes(data=True):
        assert re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+:[\w.-]+", node), node
        assert node.startswith(data["project"] + ":")
        assert data["team"] == data["project"].split("/")[0]
        assert data["file"] == f"specs/{data['project']}.yaml"
        assert data["line"] >= 1 and data["column"] >= 1
    source = graph.nodes["risk/fraud-detection:sources.transactions"]
    assert (source["kind"], source["version"], source["uri"], source["pii"]) == (
        "source", "2026-11-01", "s3://risk-lake/transactions/", True)
    code = graph.nodes["risk/fraud-detection:steps.train.code"]
    assert code["commit"] == "94efdd6f628eda9c1ae893467c9652808443ef3e"
    assert graph.nodes[FRAUD_MODEL]["type"] == "model"
    release = graph.nodes["risk/fraud-detection:serving.fraud-api.environments.staging.canary"]
    assert (release["canary"], release["percent"], release["environment"]) == (True, 20, "staging")
    assert release["digest"].startswith("sha256:db61c6dc")


def test_cross_project_reference_joins_the_projects(graph):
    edge = graph.edges[FRAUD_MODEL, "growth/merchant-recs:steps.train"]
    assert (edge["kind"], edge["input"], edge["cross"]) == ("reads", "fraud_model", True)
    assert nx.has_path(graph, "risk/fraud-detection:sources.transactions", "growth/merchant-recs:serving.recs-api")


def test_gates_and_releases_hang_off_the_serving_target(graph):
    serving = "risk/fraud-detection:serving.fraud-api"
    assert graph.edges[FRAUD_MODEL, serving]["kind"] == "serves"
    assert graph.edges[FRAUD_MODEL, "risk/fraud-detection:evaluations.holdout"]["kind"] == "evaluates"
    gates = sorted(u for u, _, kind in graph.in_edges(serving, data="kind") if kind == "gated-by")
    assert [graph.nodes[g]["label"] for g in gates] == ["auc >= 0.92", "recall_at_1pct_fpr >= 0.55",
                                                        "p95_latency_ms <= 40"]
    assert sorted(v for _, v in graph.out_edges(serving)) == [
        f"{serving}.environments.production", f"{serving}.environments.staging",
        f"{serving}.environments.staging.canary"]


def test_select_keeps_the_node_its_ancestors_and_descendants_across_projects(graph):
    result = run_mlopsc("graph", "--format", "json", "--select", FRAUD_MODEL, cwd=EXAMPLES)
    assert result.code == 0, result.err
    kept = {node["id"] for node in json.loads(result.out)["nodes"]}
    assert kept == {FRAUD_MODEL} | nx.ancestors(graph, FRAUD_MODEL) | nx.descendants(graph, FRAUD_MODEL)
    assert {"risk/fraud-detection:sources.chargebacks", "risk/fraud-detection:steps.features.code",
            "growth/merchant-recs:steps.train", "growth/merchant-recs:serving.recs-api",
            "risk/fraud-detection:serving.fraud-api.environments.production"} <= kept
    # Upstream of growth's model, but neither upstream nor downstream of the fraud model.
    assert "growth/merchant-recs:sources.merchants" not in kept
    assert "risk/fraud-detection:steps.features.outputs.test" not in kept


def test_select_an_unknown_node_is_bad_usage_with_a_hint():
    result = run_mlopsc("graph", "--select", "risk/fraud-detection:steps.trian", cwd=EXAMPLES)
    assert result.code == 2
    assert "risk/fraud-detection:steps.train" in result.err


def test_dot_has_every_node_and_edge(graph):
    result = run_mlopsc("graph", "--format", "dot", cwd=EXAMPLES)
    assert result.code == 0
    out = result.out
    assert out.startswith("digraph lineage {") and out.rstrip().endswith("}")
    nodes = set(re.findall(r'^\s+("[^"]+") \[label=', out, re.M))
    edges = re.findall(r'^\s+("[^"]+") -> ("[^"]+") \[label="([\w-]+)"\];$', out, re.M)
    assert {json.loads(n) for n in nodes} == set(graph.nodes)
    assert {(json.loads(a), json.loads(b), k) for a, b, k in edges} == set(graph.edges(data="kind"))
    assert 'label="risk/fraud-detection"' in out  # one cluster per project


def test_mermaid_has_every_node_and_edge(graph):
    result = run_mlopsc("graph", "--format", "mermaid", cwd=EXAMPLES)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "flowchart LR"
    node_lines = [line for line in lines if re.match(r"^\s+n\d+\[", line)]
    edge_lines = [line for line in lines if re.match(r"^\s+n\d+ -->\|[\w-]+\| n\d+$", line)]
    assert len(node_lines) == graph.number_of_nodes()
    assert len(edge_lines) == graph.number_of_edges()
    assert sum(line.strip().startswith("subgraph") for line in lines) == 2


def test_graph_of_a_broken_repository_shows_the_errors_and_exits_1(example_repo):
    edit(example_repo / "specs/risk/fraud-detection.yaml", "outputs.train}", "outputs.trian}")
    result = run_mlopsc("graph", cwd=example_repo)
    assert result.code == 1
    assert result.out == ""
    assert "error[R001]" in result.err


def test_explain_prints_the_rules_doc(tmp_path):
    result = run_mlopsc("explain", "R003", cwd=tmp_path)
    assert result.code == 0
    assert result.out.startswith("R003 (cycle, error)\n\n")
    assert "cycle" in result.out and "across projects" in result.out


def test_explain_unknown_code_exits_2(tmp_path):
    result = run_mlopsc("explain", "X999", cwd=tmp_path)
    assert result.code == 2
    assert "unknown code 'X999'" in result.err


def test_explain_without_a_code_lists_the_catalogue(tmp_path):
    from compiler.codes import CATALOGUE

    result = run_mlopsc("explain", cwd=tmp_path)
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()] == list(CATALOGUE)


def test_dot_keeps_non_ascii_labels_readable(example_repo):
    # Graphviz shows `\u00e9` literally; a label must reach it as the character itself.
    spec = example_repo / "specs/growth/merchant-recs.yaml"
    edit(spec, "https://git.example.com/growth/recs.git", "https://git.example.com/équipe/recs.git")
    result = run_mlopsc("graph", "--format", "dot", cwd=example_repo)
    assert result.code == 0, result.err
    assert "équipe/recs.git@" in result.out and "\\u00e9" not in result.out
