"""Promotion order (E006), the promotion history and its tamper-evidence (E007), `mlopsc promote`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import edit, line_col, run_mlopsc

SPEC = "specs/risk/fraud-detection.yaml"
HISTORY = "generated/promotion/history.json"
INVENTORY = "generated/.mlopsc-inventory.json"
D142 = "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf"
D151 = "sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada"
URI142, URI151 = "s3://risk-models/fraud/run-0142/", "s3://risk-models/fraud/run-0151/"
EV142, EV151 = "evidence/risk/fraud-detection/run-0142.json", "evidence/risk/fraud-detection/run-0151.json"


def codes_at(repo: Path, *args: str) -> list[tuple[str, str, int, int]]:
    result = run_mlopsc("validate", "--format", "json", *args, cwd=repo)
    return [(d["code"], d["path"], d["line"], d["column"]) for d in json.loads(result.out)
            if d["code"].startswith("E")]


def set_env_release(repo: Path, env: str, uri: str, digest: str, evidence: str) -> None:
    """Point the `release` of one environment (the first `release:` after `<env>:`) elsewhere."""
    spec = repo / SPEC
    text = spec.read_text()
    start = text.index(f"        {env}:")
    at = text.index("          release:", start)
    end = text.index("evidence: ", at)
    end = text.index("\n", end)
    block = (f"          release:\n            uri: {uri}\n            digest: {digest}\n"
             f"            evidence: {evidence}")
    spec.write_text(text[:at] + block + text[end:])


def new_evidence(repo: Path, run: str) -> tuple[str, str, str]:
    """A passing evidence file for a model no environment has pinned yet."""
    digest = "sha256:" + hashlib.sha256(run.encode()).hexdigest()
    uri = f"s3://risk-models/fraud/{run}/"
    record = json.loads((repo / EV142).read_text())
    record["model"] = {"uri": uri, "digest": digest}
    record["lineage"]["run"] = run
    path = f"evidence/risk/fraud-detection/{run}.json"
    (repo / path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return uri, digest, path


# ------------------------------------------------------------------------------ E006
def test_production_may_pin_what_staging_pins_now_as_release_or_canary(example_repo):
    assert codes_at(example_repo) == []
    set_env_release(example_repo, "production", URI151, D151, EV151)  # staging's canary
    assert codes_at(example_repo) == []


def test_production_pinning_what_staging_never_pinned_is_e006_at_the_digest(example_repo):
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "production", uri, digest, evidence)
    line, col = line_col(example_repo / SPEC, digest)
    assert codes_at(example_repo) == [("E006", SPEC, line, col)]
    result = run_mlopsc("validate", "--verbose", cwd=example_repo)
    assert f"`staging` pins release {D142} now" in result.out  # the note says what staging has
    assert f"`staging` pins canary {D151} now" in result.out


def test_an_earlier_pin_in_the_history_allows_a_promotion_and_verbose_says_which(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    # Staging moves on to a new model; production keeps run-0142, allowed by the history.
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "staging", uri, digest, evidence)
    result = run_mlopsc("compile", "--verbose", cwd=example_repo)
    assert result.code == 0, result.err
    line, col = line_col(example_repo / SPEC, D142)
    assert (f"{SPEC}:{line}:{col}: info: `fraud-api` in `production` pins release {D142}, promoted from "
            f"`staging`: `staging` pinned it as release in an earlier compile (promotion history #1)") in result.err
    # Without that history (a fresh output directory) the same specs are refused.
    assert codes_at(example_repo) == []
    assert codes_at_out(example_repo, "elsewhere") == [("E006", SPEC, line, col)]


def codes_at_out(repo: Path, out: str) -> list[tuple[str, str, int, int]]:
    result = run_mlopsc("--out", out, "validate", "--format", "json", cwd=repo)
    return [(d["code"], d["path"], d["line"], d["column"]) for d in json.loads(result.out)
            if d["code"].startswith("E")]


# ------------------------------------------------------------------------------ the history
def history_entries(repo: Path) -> list[dict]:
    return json.loads((repo / HISTORY).read_text())["entries"]


def test_history_records_every_pin_once_and_only_grows(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    first = (example_repo / HISTORY).read_text()
    assert [(e["seq"], e["environment"], e["as"], e["digest"]) for e in history_entries(example_repo)] == [
        (3, "production", "release", D142), (2, "staging", "canary", D151), (1, "staging", "release", D142)]
    assert "time" not in first and str(example_repo) not in first
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "staging", uri, digest, evidence)
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    second = (example_repo / HISTORY).read_text()
    # Exactly one added line: the new pin, on top; nothing removed or changed.
    added = [line for line in second.splitlines() if line not in first.splitlines()]
    assert len(added) == 1 and f'"seq": 4' in added[0] and digest in added[0]
    assert set(first.splitlines()) <= set(second.splitlines())
    assert run_mlopsc("compile", "--check", cwd=example_repo).code == 0


def test_deleting_a_history_line_is_e007_and_lets_nothing_through(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "staging", uri, digest, evidence)
    assert run_mlopsc("compile", cwd=example_repo).code == 0  # production's run-0142 relies on #1
    history = example_repo / HISTORY
    lines = history.read_text().splitlines(keepends=True)
    [gone] = [i for i, line in enumerate(lines) if '"seq": 2,' in line]
    history.write_text("".join(lines[:gone] + lines[gone + 1:]))
    line_of_next = next(i for i, line in enumerate(history.read_text().splitlines()) if '"seq": 3,' in line) + 1
    spec_line, spec_col = line_col(example_repo / SPEC, D142)
    found = codes_at(example_repo)
    assert ("E007", HISTORY, 1, 1) in found  # not what the inventory recorded
    assert ("E007", HISTORY, line_of_next, 1) in found  # the chain breaks right after the gap
    assert ("E006", SPEC, spec_line, spec_col) in found  # an untrusted history allows nothing
    check = run_mlopsc("compile", "--check", cwd=example_repo)
    assert check.code == 1 and "E007" in check.err


def test_a_hand_edit_with_a_recomputed_inventory_hash_still_breaks_the_chain(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    history = example_repo / HISTORY
    lines = history.read_text().splitlines(keepends=True)
    [gone] = [i for i, line in enumerate(lines) if '"seq": 2,' in line]
    history.write_text("".join(lines[:gone] + lines[gone + 1:]))
    inventory = json.loads((example_repo / INVENTORY).read_text())
    inventory["files"]["promotion/history.json"] = hashlib.sha256(history.read_bytes()).hexdigest()
    (example_repo / INVENTORY).write_text(json.dumps(inventory, indent=2, sort_keys=True) + "\n")
    assert [c[:2] for c in codes_at(example_repo)] == [("E007", HISTORY)]


def test_a_forged_history_entry_is_not_believed(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "production", uri, digest, evidence)
    assert [c[0] for c in codes_at(example_repo)] == ["E006"]
    history = example_repo / HISTORY
    text = history.read_text()
    forged = ('    {"seq": 4, "project": "risk/fraud-detection", "serving": "fraud-api", "environment": "staging", '
              f'"as": "release", "digest": "{digest}", "uri": "{uri}", "evidence": "{evidence}", "chain": "{"0" * 64}"}},\n')
    history.write_text(text.replace('  "entries": [\n', '  "entries": [\n' + forged))
    assert sorted(c[0] for c in codes_at(example_repo)) == ["E006", "E007", "E007"]


def test_a_deleted_history_is_e007(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    (example_repo / HISTORY).unlink()
    assert codes_at(example_repo) == [("E007", HISTORY, 1, 1)]


# ------------------------------------------------------------------------------ promote
COMMENTED = """\
# Fraud scoring: owned by risk-ml.   (a comment the promotion must keep)
apiVersion: mlopsc.dev/v1
kind: MLProject
metadata:
    name: fraud-detection      # four-space indentation here
    team: risk
    owners:
    - risk-ml@example.com      # a sequence at offset 0
spec:
  sources:
    transactions: {uri: "s3://risk-lake/transactions/", version: '2026-11-01'}
    chargebacks:
      uri: s3://risk-lake/chargebacks/
      version: sha256:c9cbc74a5d80acf9bf160e202da5e3f32d1cd9a83a091316a2553c89ba2eb38c
  steps:
    features:
      image: registry.example.com/risk/fraud-features@sha256:5b8a8b56dada6ce7567442b4935298df7de2badd7becdcf4915a59487338ca4b
      code: {repo: https://git.example.com/risk/fraud.git, commit: 4f944542e06cd6f28fa72685120ec1c9e2b84a27, path: features}
      inputs:
          transactions: sources.transactions
          labels: sources.chargebacks
      outputs: {train: dataset, test: dataset}
    train:
      image: registry.example.com/risk/fraud-train@sha256:116f54c41d0405dbb10e7b04ebc31e262a5b8c85c1233fcf36eaee344d91ae58
      code: {repo: https://git.example.com/risk/fraud.git, commit: 94efdd6f628eda9c1ae893467c9652808443ef3e, path: train}
      inputs: {train: steps.features.outputs.train}
      outputs: {model: model}
  evaluations:
    holdout:
      model: steps.train.outputs.model
      inputs: {test: steps.features.outputs.test}
      image: registry.example.com/risk/fraud-eval@sha256:1bbd174404efbce95f1af489ef93f4aa0f4d55718f24c3504682216afa7b7fb1
      code: {repo: https://git.example.com/risk/fraud.git, commit: 822bc13e2d55b402eb4233cb23c9d414a7a03bc1, path: evaluate}
      metrics: [auc, recall_at_1pct_fpr, p95_latency_ms]
      gates:
        -   auc >= 0.92         # agreed with the fraud team, 2026-10
        -   "p95_latency_ms <= 40"
  serving:
    fraud-api:
      model: steps.train.outputs.model
      gates: [holdout]
      runtime:
        kserve: {format: xgboost}
      environments:

        staging:
          # run-0151 won the shadow test
          release:
            uri: s3://risk-models/fraud/run-0151/
            digest: sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada
            evidence: evidence/risk/fraud-detection/run-0151.json
        production:
          # keep production on run-0142 until the quarterly review
          release:
            uri: "s3://risk-models/fraud/run-0142/"   # quoted on purpose
            digest: 'sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf'
            evidence: evidence/risk/fraud-detection/run-0142.json  # the evidence
          replicas: {min: 3, max: 12}
  schedule: >
     0 3 * * 1
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_promote_changes_only_the_release_values_of_a_commented_spec(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0  # staging pinned run-0142 before
    spec = example_repo / SPEC
    spec.write_text(COMMENTED)
    assert codes_at(example_repo) == []
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    assert changed_lines(COMMENTED, spec.read_text()) == [
        ('            uri: "s3://risk-models/fraud/run-0142/"   # quoted on purpose\n',
         '            uri: "s3://risk-models/fraud/run-0151/"   # quoted on purpose\n'),
        ("            digest: 'sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf'\n",
         "            digest: 'sha256:db61c6dc1384fc8b08fcd66f81ed53712577640c31ce2ece8313f9d50a0d3ada'\n"),
        ("            evidence: evidence/risk/fraud-detection/run-0142.json  # the evidence\n",
         "            evidence: evidence/risk/fraud-detection/run-0151.json  # the evidence\n"),
    ]
    again = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert again.code == 0 and "nothing to do" in again.err


def test_promote_adds_a_release_to_an_environment_without_one(example_repo):
    spec = example_repo / SPEC
    before = COMMENTED.replace(
        '''          release:
            uri: "s3://risk-models/fraud/run-0142/"   # quoted on purpose
            digest: 'sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf'
            evidence: evidence/risk/fraud-detection/run-0142.json  # the evidence
''', "")
    spec.write_text(before)
    assert codes_at(example_repo) == []
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    after = spec.read_text()
    anchor = "          replicas: {min: 3, max: 12}\n"
    assert after == before.replace(anchor, anchor + f"""\
          release:
            uri: {URI151}
            digest: {D151}
            evidence: {EV151}
""")
    assert codes_at(example_repo) == []


def test_promote_adds_a_missing_environment_in_flow_style(example_repo):
    spec = example_repo / SPEC
    text = spec.read_text()
    flow = f"      environments: {{staging: {{release: {{uri: {URI142}, digest: {D142}, evidence: {EV142}}}}}}}  # flow\n"
    before = text[:text.index("      environments:\n")] + flow + text[text.index("  schedule:"):]
    spec.write_text(before)
    assert codes_at(example_repo) == []
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    added = f", production: {{release: {{uri: {URI142}, digest: {D142}, evidence: {EV142}}}}}}}  # flow"
    assert spec.read_text() == before.replace("}}}  # flow", "}}" + added)
    assert codes_at(example_repo) == []


def test_promote_refuses_when_the_evidence_fails_the_gates(example_repo):
    spec = example_repo / SPEC
    edit(spec, "p95_latency_ms <= 40", "p95_latency_ms <= 32")  # run-0142 has 33.5, run-0151 31.0
    set_env_release(example_repo, "production", URI151, D151, EV151)  # staging's canary: passes
    before = spec.read_text()
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 1
    line, col = line_col(spec, EV151, 2)  # production's evidence value: the edit keeps its place
    assert f"{SPEC}:{line}:{col}: error[E005]: the release fails gate `p95_latency_ms <= 32` of evaluation " \
           f"`holdout`: p95_latency_ms 33.5 > 32" in result.err
    assert "not promoted" in result.err
    assert spec.read_text() == before  # nothing written


def test_promote_round_trip_compile_check(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    uri, digest, evidence = new_evidence(example_repo, "run-0160")
    set_env_release(example_repo, "staging", uri, digest, evidence)
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    assert run_mlopsc("compile", "--check", cwd=example_repo).code == 1  # the spec changed
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    assert run_mlopsc("compile", "--check", cwd=example_repo).code == 0
    entries = history_entries(example_repo)
    assert (entries[0]["environment"], entries[0]["digest"]) == ("production", digest)
    card = (example_repo / "generated/model-cards/risk/fraud-detection.md").read_text()
    assert f"promoted from staging, which pinned it as release in promotion #{entries[1]['seq']}" in card


def test_promote_usage_errors(example_repo):
    for args, complaint in ((["risk/fraud-detektion", "fraud-api", "--to", "production"], "did you mean"),
                            (["risk/fraud-detection", "fraud-api", "--to", "producton"], "did you mean `production`"),
                            (["risk/fraud-detection", "fraud-api", "--to", "staging"], "no promotesFrom"),
                            (["risk/fraud-detection", "nope", "--to", "production"], "no serving target")):
        result = run_mlopsc("promote", *args, cwd=example_repo)
        assert result.code == 2 and complaint in result.err, (args, result.err)


def test_promote_says_what_the_target_keeps_and_warns_w004_when_it_is_less(example_repo):
    """The issue's case: staging runs 2 CPU/8Gi on 1–2 replicas; production has no release, no
    replicas and no resources, so after the promotion it would serve on the 1 CPU/2Gi default."""
    spec = example_repo / SPEC
    edit(spec, '          resources: {cpu: "1", memory: 2Gi}\n', '          resources: {cpu: "2", memory: 8Gi}\n')
    text = spec.read_text()
    start = text.index("        production:\n")
    spec.write_text(text[:start] + "        production: {}\n" + text[text.index("  schedule:"):])
    assert run_mlopsc("validate", cwd=example_repo).code == 0  # production serves nothing yet: no W004
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    line, column = line_col(spec, "production:")
    warning = (f"{SPEC}:{line}:{column}: warning[W004]: `fraud-api` would serve in `production` with less "
               f"than in `staging`, which it promotes from: replicas.max 1 < 2, cpu 1 (the default) < 2, "
               f"memory 2Gi (the default) < 8Gi; set `replicas` and `resources` under environments.production "
               f"(at least staging's)")
    lines = result.err.splitlines()
    assert lines.count(warning) == 1, lines
    assert lines[-1] == ("mlopsc: production keeps its own replicas 1–1, cpu 1 (default), memory 2Gi (default) "
                         "(staging has replicas 1–2, cpu 2, memory 8Gi)")
    validate = run_mlopsc("validate", cwd=example_repo)
    assert validate.code == 0 and f"{SPEC}:{line}:{column}: warning[W004]: " in validate.out


def test_promote_into_an_environment_with_more_capacity_says_what_it_keeps_without_warning(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    edit(example_repo / SPEC, "evidence/risk/fraud-detection/run-0142.json\n          replicas: {min: 3",
         "evidence/risk/fraud-detection/run-0151.json\n          replicas: {min: 3")
    result = run_mlopsc("promote", "risk/fraud-detection", "fraud-api", "--to", "production", cwd=example_repo)
    assert result.code == 0, result.err
    assert result.err.splitlines()[-1] == ("mlopsc: production keeps its own replicas 3–12, cpu 2, memory 4Gi "
                                           "(staging has replicas 1–2, cpu 1, memory 2Gi)")
    assert "W004" not in result.err
