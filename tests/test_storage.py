"""Storage identities (mlopsc.yaml `storage`, docs/STORAGE.md): how the levels merge, what every
error says and where, and what the serving ServiceAccounts, the plan and the model cards show."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import EXAMPLES, copy_repo, edit, line_col, run_mlopsc
from test_serving_variants import make_containers

from compiler.frontend.models import Repository
from compiler.middle.storage import pipeline_service_account, resolve_storage

CONFIG = "mlopsc.yaml"
GKE = "iam.gke.io/gcp-service-account"
IRSA = "eks.amazonaws.com/role-arn"


# --------------------------------------------------------------------------------- merging
def repository(**storage_levels) -> Repository:
    """A Repository with `storage` at the levels given: repo=, risk=, growth=, staging=, production=."""
    data: dict = {"teams": {"risk": {}, "growth": {}},
                  "environments": {"staging": {}, "production": {"promotesFrom": "staging"}}}
    for level, storage in storage_levels.items():
        if level == "repo":
            data["storage"] = storage
        elif level in data["teams"]:
            data["teams"][level]["storage"] = storage
        else:
            data["environments"][level]["storage"] = storage
    return Repository.model_validate(data)


REPO_LEVEL = {"serviceAccount": {"annotations": {GKE: "{team}-{env}@acme.iam.gserviceaccount.com"}},
              "secrets": ["store-{env}"], "pipelineServiceAccount": "{team}-pipelines"}


def test_repository_level_applies_to_every_team_and_environment_with_placeholders_replaced():
    config = repository(repo=REPO_LEVEL)
    identity = resolve_storage(config, "growth", "production")
    assert identity.annotations == {GKE: "growth-production@acme.iam.gserviceaccount.com"}
    assert identity.secrets == ("store-production",)
    assert identity.pipeline_service_account == "growth-pipelines"
    assert identity.origins == {"annotations": ("storage",), "secrets": ("storage",),
                                "pipelineServiceAccount": ("storage",)}


def test_without_storage_nothing_is_set_and_pipelines_use_the_profile_default():
    identity = resolve_storage(repository(), "risk", "staging")
    assert identity.annotations == {} and identity.secrets == () and identity.serving_is_default
    assert pipeline_service_account(repository(), "risk") is None


def test_a_team_replaces_the_repository_field_by_field():
    config = repository(repo=REPO_LEVEL, risk={"secrets": ["risk-store"]})
    risk = resolve_storage(config, "risk", "staging")
    assert risk.secrets == ("risk-store",)  # replaced, not appended
    assert risk.annotations == {GKE: "risk-staging@acme.iam.gserviceaccount.com"}  # still the repository's
    assert risk.origins["secrets"] == ("teams", "risk", "storage")
    assert resolve_storage(config, "growth", "staging").secrets == ("store-staging",)  # other teams unchanged


def test_an_environment_replaces_the_team_and_the_repository():
    config = repository(repo=REPO_LEVEL,
                        risk={"serviceAccount": {"annotations": {IRSA: "arn:aws:iam::111122223333:role/{team}"}}},
                        production={"serviceAccount": {"annotations": {GKE: "prod-{team}@acme.iam.gserviceaccount.com"}}})
    assert resolve_storage(config, "risk", "production").annotations == {GKE: "prod-risk@acme.iam.gserviceaccount.com"}
    # Annotations are one field: the team's IRSA role does not leak into the environment's identity.
    assert resolve_storage(config, "risk", "staging").annotations == {IRSA: "arn:aws:iam::111122223333:role/risk"}
    assert resolve_storage(config, "risk", "production").secrets == ("store-production",)


def test_an_empty_mapping_or_list_clears_a_lower_level():
    config = repository(repo=REPO_LEVEL, staging={"serviceAccount": {"annotations": {}}, "secrets": ["minio"]})
    staging = resolve_storage(config, "risk", "staging")
    assert staging.annotations == {} and staging.secrets == ("minio",)
    config = repository(repo=REPO_LEVEL, risk={"secrets": []})
    assert resolve_storage(config, "risk", "production").secrets == ()


def test_the_pipeline_service_account_is_per_team_and_ignores_environments():
    config = repository(repo=REPO_LEVEL, growth={"pipelineServiceAccount": "growth-kfp"},
                        production={"pipelineServiceAccount": "never-read"})
    assert pipeline_service_account(config, "growth") == "growth-kfp"
    assert pipeline_service_account(config, "risk") == "risk-pipelines"
    assert resolve_storage(config, "risk", "production").pipeline_service_account == "risk-pipelines"


def test_the_identity_fingerprint_follows_annotations_and_secrets_only():
    a = resolve_storage(repository(repo=REPO_LEVEL), "risk", "staging")
    b = resolve_storage(repository(repo={**REPO_LEVEL, "pipelineServiceAccount": "other"}), "risk", "staging")
    c = resolve_storage(repository(repo={**REPO_LEVEL, "secrets": ["x"]}), "risk", "staging")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


# ------------------------------------------------------------------------------- diagnostics
def storage_block(body: str, where: str = "repo") -> tuple[str, str]:
    """An edit of the examples' mlopsc.yaml that adds `storage` (body indented under it)."""
    if where == "repo":
        return "kserve:\n", "storage:\n" + body + "kserve:\n"
    if where == "production":
        return "    promotesFrom: staging\n", "    promotesFrom: staging\n    storage:\n" + \
            "".join("    " + line + "\n" for line in body.splitlines())
    return f"  {where}: {{}}\n", f"  {where}:\n    storage:\n" + "".join("    " + line + "\n" for line in body.splitlines())


Case = collections.namedtuple("Case", "code body level at message")
ERROR_CASES = [
    # (code, storage body, level, where the error is (needle, occurrence), words of the message)
    Case("K050", '  secrets: ["store-{environment}"]\n', "repo", '"store-{environment}"',
     "`{environment}` in `store-{environment}` is not a placeholder"),
    Case("K050", '  pipelineServiceAccount: "{team}-{env}-runs"\n', "repo", '"{team}-{env}-runs"',
     "pipeline runs belong to a team, not to an environment"),
    Case("K051", "  serviceAccount:\n    annotations: {Example.com/role: x}\n", "repo", "Example.com/role",
     "prefix `Example.com` that is not a DNS-1123 subdomain"),
    Case("K051", "  serviceAccount:\n    annotations: {mlopsc.dev/model-uri: s3://x}\n", "repo", "mlopsc.dev/model-uri",
     "mlopsc keeps for its own lineage annotations"),
    Case("K051", "  serviceAccount:\n    annotations: {example.com/" + "n" * 64 + ": x}\n", "repo", "example.com/nnn",
     "name part of 64 characters; at most 63"),
    Case("K052", "  serviceAccount:\n    annotations: {eks.amazonaws.com/role-arn: \"arn:aws:iam::1234:role/{team}\"}\n",
     "repo", '"arn:aws:iam::1234', "must be an IAM role ARN"),
    Case("K052", "  serviceAccount:\n    annotations: {iam.gke.io/gcp-service-account: \"{team}-serving@acme\"}\n",
     "risk", '"{team}-serving@acme"', "(`{team}-serving@acme` for team `risk`): the value must be a Google service account email"),
    Case("K052", "  serviceAccount:\n    annotations: {serving.kserve.io/s3-endpoint: \"https://minio.example.com\"}\n",
     "repo", '"https://minio', "no scheme"),
    Case("K053", '  secrets: ["{env}_store"]\n', "repo", '"{env}_store"',
     "Secret name `staging_store` (`{env}_store` for environment `staging`) is not a DNS-1123 subdomain"),
    Case("K053", "  secrets: [Model-Store]\n", "production", "Model-Store", "(try `model-store`)"),
    Case("K054", "  serviceAccount:\n    annotations: {example.com/aws: AKIAIOSFODNN7EXAMPLE}\n", "repo",
     "AKIAIOSFODNN7EXAMPLE", "the value of annotation `example.com/aws` looks like a credential"),
    Case("K054", "  serviceAccount:\n    annotations: {db_password: hunter2}\n", "growth", "db_password",
     "annotation `db_password` is named like a credential"),
    Case("K054", '  secrets: ["s3://minio:minio123@minio.example.com"]\n', "repo", '"s3://minio:minio123',
     "a Secret name looks like a credential"),
    Case("K055", "  pipelineServiceAccount: Risk_Pipelines\n", "risk", "Risk_Pipelines",
     "`pipelineServiceAccount: Risk_Pipelines` is not a ServiceAccount name"),
    Case("S020", "  pipelineServiceAccount: prod-runs\n", "production", "pipelineServiceAccount",
     "pipeline runs belong to a team's Kubeflow namespace, not to an environment"),
]


@pytest.mark.parametrize("code,body,level,at,message", ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_each_storage_error_is_reported_at_its_line_and_column(example_repo, code, body, level, at, message):
    edit(example_repo / CONFIG, *storage_block(body, level))
    line, column = line_col(example_repo / CONFIG, at)
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert result.code == 1, result.out
    found = [(d["code"], d["path"], d["line"], d["column"], d["message"]) for d in json.loads(result.out)]
    assert [f[:4] for f in found] == [(code, CONFIG, line, column)], found
    assert message in found[0][4]
    assert run_mlopsc("compile", cwd=example_repo).code == 1  # nothing written with a broken identity


def test_a_key_named_like_a_credential_in_an_identity_namespace_is_a_setting(example_repo):
    edit(example_repo / CONFIG, *storage_block(
        "  serviceAccount:\n    annotations:\n"
        "      eks.amazonaws.com/role-arn: \"arn:aws:iam::111122223333:role/{team}-{env}\"\n"
        "      eks.amazonaws.com/token-expiration: \"86400\"\n"))
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert (result.code, json.loads(result.out)) == (0, [])


def test_the_contracts_example_validates_once_its_flow_sequence_is_quoted(example_repo):
    edit(example_repo / CONFIG, *storage_block(
        "  serviceAccount:\n"
        "    annotations: {iam.gke.io/gcp-service-account: \"{team}-{env}-serving@acme.iam.gserviceaccount.com\"}\n"
        "  secrets: [\"model-store-{env}\"]\n"
        "  pipelineServiceAccount: \"{team}-pipelines\"\n"))
    edit(example_repo / CONFIG, "  risk: {}\n", "  risk: {storage: {secrets: [risk-model-store]}}\n")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert (result.code, json.loads(result.out)) == (0, [])


def test_unknown_storage_fields_are_shape_errors_with_a_hint(example_repo):
    edit(example_repo / CONFIG, *storage_block("  secret: [store]\n"))
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    diagnostics = json.loads(result.out)
    line, column = line_col(example_repo / CONFIG, "secret: [store]")
    assert [(d["code"], d["line"], d["column"]) for d in diagnostics] == [("S001", line, column)]
    assert "did you mean `secrets`" in diagnostics[0]["message"]


# ------------------------------------------------------------------------- emitted objects
STORAGE_CONFIG = (
    "  serviceAccount:\n"
    "    annotations: {iam.gke.io/gcp-service-account: \"{team}-{env}-serving@acme.iam.gserviceaccount.com\"}\n"
    "  pipelineServiceAccount: \"{team}-pipelines\"\n")


@pytest.fixture(scope="module")
def storage_repo(tmp_path_factory) -> Path:
    """The examples with a container target and canary (growth) and a storage identity at every level:
    GCS Workload Identity repository-wide, MinIO with an S3 Secret in staging, a team override."""
    root = make_containers(copy_repo(EXAMPLES, tmp_path_factory.mktemp("storage") / "repo"))
    edit(root / CONFIG, *storage_block(STORAGE_CONFIG))
    edit(root / CONFIG, "    cluster: https://kubernetes.default.svc\n",
         "    cluster: https://kubernetes.default.svc\n"
         "    storage: {serviceAccount: {annotations: {}}, secrets: [minio-models]}\n")
    edit(root / CONFIG, "  growth: {}\n", "  growth: {storage: {secrets: [growth-store]}}\n")
    result = run_mlopsc("compile", cwd=root)
    assert result.code == 0, result.err
    return root


def service_accounts(root: Path) -> dict[str, dict]:
    return {p.relative_to(root / "generated").as_posix(): yaml.safe_load(p.read_text())
            for p in sorted((root / "generated/deploy/serving").rglob("serviceaccount-*.yaml"))}


def test_every_serving_service_account_carries_its_merged_identity(storage_repo):
    accounts = service_accounts(storage_repo)
    identities = {path: ({k: v for k, v in sa["metadata"]["annotations"].items() if not k.startswith("mlopsc.dev/")},
                         sa.get("secrets"), sa["automountServiceAccountToken"]) for path, sa in accounts.items()}
    assert identities == {
        # staging: the environment's MinIO Secret replaces the team's and clears the GKE annotation
        "deploy/serving/staging/growth/merchant-recs/serviceaccount-recs-api.yaml": ({}, [{"name": "minio-models"}], False),
        "deploy/serving/staging/risk/fraud-detection/serviceaccount-fraud-api.yaml": ({}, [{"name": "minio-models"}], False),
        # production: the repository's Workload Identity, per team and environment
        "deploy/serving/production/risk/fraud-detection/serviceaccount-fraud-api.yaml": (
            {GKE: "risk-production-serving@acme.iam.gserviceaccount.com"}, None, False),
    }


def test_every_service_account_validates_strictly_for_kubernetes_1_33(storage_repo):
    for path, sa in service_accounts(storage_repo).items():
        kubernetes_validate.validate(sa, "1.33", strict=True)
    broken = {**sa, "secrets": ["minio-models"]}  # a name where an object reference belongs
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.33", strict=True)


def test_every_pod_including_the_canary_runs_as_the_target_account_and_rolls_with_its_identity(storage_repo):
    folder = storage_repo / "generated/deploy/serving/staging/growth/merchant-recs"
    deployments = [yaml.safe_load(p.read_text()) for p in folder.glob("deployment-*.yaml")]
    assert sorted(d["metadata"]["name"] for d in deployments) == ["recs-api", "recs-api-canary"]
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        assert pod["spec"]["serviceAccountName"] == "recs-api"
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert len(pod["metadata"]["annotations"]["mlopsc.dev/storage-identity"]) == 16
    isvc = yaml.safe_load((storage_repo / "generated/deploy/serving/staging/risk/fraud-detection/"
                                          "inferenceservice-fraud-api.yaml").read_text())
    for predictor in (isvc["spec"]["predictor"], isvc["spec"]["canary"][0]["predictor"]):
        assert predictor["serviceAccountName"] == "fraud-api"
        assert "mlopsc.dev/storage-identity" in predictor["annotations"]


def test_without_storage_the_objects_are_as_before(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    for sa in service_accounts(example_repo).values():
        assert "secrets" not in sa and all(k.startswith("mlopsc.dev/") for k in sa["metadata"]["annotations"])
    isvc = yaml.safe_load(next((example_repo / "generated/deploy/serving").rglob("inferenceservice-*.yaml")).read_text())
    assert "mlopsc.dev/storage-identity" not in isvc["spec"]["predictor"]["annotations"]


def test_pipelines_name_the_service_account_their_runs_use(storage_repo):
    pipeline = yaml.safe_load((storage_repo / "generated/deploy/pipelines/risk/fraud-detection/"
                                              "pipeline-risk-fraud-detection.yaml").read_text())
    assert pipeline["metadata"]["annotations"]["mlopsc.dev/run-service-account"] == "risk-pipelines"


def test_the_model_card_shows_the_identity_per_environment_and_the_pipeline_account(storage_repo):
    card = (storage_repo / "generated/model-cards/risk/fraud-detection.md").read_text()
    assert "| Pipeline runs as | ServiceAccount `risk-pipelines` |" in card
    staging = card[card.index("### staging"):card.index("### production")]
    production = card[card.index("### production"):]
    assert ("Serves as ServiceAccount `fraud-api` in `risk-staging`, with this storage identity:\n\n"
            "- Secrets: `minio-models`\n") in staging
    assert ("Serves as ServiceAccount `fraud-api` in `risk-production`, with this storage identity:\n\n"
            f"- Annotation `{GKE}`: `risk-production-serving@acme.iam.gserviceaccount.com`\n") in production


def test_a_model_card_without_storage_says_the_profile_default_and_no_identity(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    card = (example_repo / "generated/model-cards/risk/fraud-detection.md").read_text()
    assert "| Pipeline runs as | the Kubeflow profile's default ServiceAccount (`default-editor`) |" in card
    assert "Serves as ServiceAccount `fraud-api` in `risk-production`, with no storage identity" in card


# ------------------------------------------------------------------------------------ plan
def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
                   cwd=repo, check=True, capture_output=True)


def test_a_change_of_identity_alone_is_a_plan_line_naming_target_environment_and_identity(example_repo):
    edit(example_repo / CONFIG, *storage_block(STORAGE_CONFIG))
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    git(example_repo, "init", "-q", "-b", "main")
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "GKE Workload Identity")
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=example_repo, capture_output=True, text=True).stdout.strip()
    # Production moves to EKS with IRSA; nothing else changes.
    edit(example_repo / CONFIG, "    promotesFrom: staging\n",
         "    promotesFrom: staging\n    storage:\n      serviceAccount:\n        annotations:\n"
         "          eks.amazonaws.com/role-arn: \"arn:aws:iam::111122223333:role/{team}-serving\"\n")
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    git(example_repo, "commit", "-q", "-am", "production on EKS")
    result = run_mlopsc("plan", "--base", base, cwd=example_repo)
    assert result.code == 0, result.err
    production = result.out[result.out.index("\nproduction\n"):]
    assert ("  ~ ServiceAccount risk-production/fraud-api changes  [risk/fraud-detection]\n"
            f"      identity: {GKE}=risk-production-serving@acme.iam.gserviceaccount.com → "
            f"{IRSA}=arn:aws:iam::111122223333:role/risk-serving\n") in production
    assert ("  ~ InferenceService risk-production/fraud-api changes  [risk/fraud-detection]\n"
            "      pods restart to take the new storage identity\n") in production
    staging = result.out[result.out.index("\nstaging\n"):result.out.index("\nproduction\n")]
    assert staging == "\nstaging\n  no changes\n"
    markdown = run_mlopsc("plan", "--base", base, "--format", "markdown", cwd=example_repo).out
    assert f"| changes | `ServiceAccount risk-production/fraud-api` | risk/fraud-detection | identity: {GKE}=" in markdown


def test_the_plan_shows_a_new_pipeline_service_account(example_repo):
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    git(example_repo, "init", "-q", "-b", "main")
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "base")
    edit(example_repo / CONFIG, "  risk: {}\n", "  risk: {storage: {pipelineServiceAccount: risk-kfp-runner}}\n")
    result = run_mlopsc("plan", "--base", "main", cwd=example_repo)
    assert ("  ~ Pipeline risk/risk-fraud-detection changes  [risk/fraud-detection]\n"
            "      runs as the profile's default ServiceAccount (default-editor) → ServiceAccount risk-kfp-runner\n"
            ) in result.out
    assert "~ ServiceAccount" not in result.out  # serving identities did not change


def test_the_bundled_repository_uses_irsa_in_production_and_a_minio_secret_in_staging():
    from conftest import REPO

    accounts = service_accounts(REPO)
    production = accounts["deploy/serving/production/risk/fraud-detection/serviceaccount-fraud-api.yaml"]
    assert production["metadata"]["annotations"][IRSA] == "arn:aws:iam::111122223333:role/risk-production-model-reader"
    payments = accounts["deploy/serving/production/payments/dispute-triage/serviceaccount-triage-api.yaml"]
    assert payments["metadata"]["annotations"][IRSA] == "arn:aws:iam::444455556666:role/ml-serving-production"
    for path, sa in accounts.items():
        if "/staging/" in path:
            assert sa["secrets"] == [{"name": "minio-models"}] and IRSA not in sa["metadata"]["annotations"]


def test_azure_workload_identity_labels_the_pods_its_webhook_mutates(example_repo):
    edit(example_repo / CONFIG, *storage_block(
        "  serviceAccount:\n    annotations:\n"
        "      azure.workload.identity/client-id: 00000000-1111-2222-3333-444444444444\n"))
    assert run_mlopsc("compile", cwd=example_repo).code == 0
    isvc = yaml.safe_load(next((example_repo / "generated/deploy/serving").rglob("inferenceservice-*.yaml")).read_text())
    assert isvc["spec"]["predictor"]["labels"]["azure.workload.identity/use"] == "true"
    # The label is on the pods only: Services and Deployments still select by name and track.
    assert "azure.workload.identity/use" not in isvc["metadata"]["labels"]
    edit(example_repo / CONFIG, "azure.workload.identity/client-id: 00000000-1111-2222-3333-444444444444",
         "azure.workload.identity/client-id: my-app")
    result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
    assert [d["code"] for d in json.loads(result.out)] == ["K052"]


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def test_every_mlopsc_yaml_example_in_the_storage_doc_validates(example_repo):
    """docs/STORAGE.md's `# mlopsc.yaml` blocks, each merged into the contract's example settings."""
    from conftest import REPO

    text = (REPO / "docs/STORAGE.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    examples = [yaml.safe_load(b) for b in blocks if b.startswith("# mlopsc.yaml")]
    assert len(examples) == 3  # GCS with Workload Identity, S3 with IRSA, MinIO with an S3 Secret
    base = yaml.safe_load((example_repo / CONFIG).read_text())
    for example in examples:
        (example_repo / CONFIG).write_text(yaml.safe_dump(_deep_merge(base, example)))
        result = run_mlopsc("validate", "--format", "json", cwd=example_repo)
        assert (result.code, json.loads(result.out)) == (0, []), example
