"""`mlopsc new` and `mlopsc init`: a newcomer's first project compiles right after `new`, with
placeholders that pass every check, and the team is declared in mlopsc.yaml without touching its
comments."""

from __future__ import annotations

import pytest

from conftest import REPO, run_mlopsc

from compiler.commands.new import declare_team


def compiles(root) -> None:
    assert run_mlopsc("compile", cwd=root).code == 0
    check = run_mlopsc("compile", "--check", cwd=root)
    assert check.code == 0, check.out + check.err


@pytest.mark.parametrize("runtime", [None, "container", "kserve:xgboost", "kserve:huggingface"])
def test_new_writes_a_spec_that_validates_and_compiles_as_is(bundled_repo, runtime):
    before = (bundled_repo / "mlopsc.yaml").read_text()
    result = run_mlopsc("new", "nlp/ticket-router", *(["--runtime", runtime] if runtime else []),
                        cwd=bundled_repo)
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [
        "mlopsc: wrote specs/nlp/ticket-router.yaml and declared team `nlp` in mlopsc.yaml", "Next steps:"]
    assert [line[:5] for line in result.out.splitlines()[2:]] == ["  1. ", "  2. ", "  3. "]
    after = (bundled_repo / "mlopsc.yaml").read_text()
    # One line added at the end of `teams:`, every other byte (comments included) kept.
    last_team_line = "      pipelineServiceAccount: payments-pci-pipelines\n"  # payments' storage ends `teams:`
    assert after == before.replace(last_team_line, last_team_line + "  nlp: {}\n")
    spec = (bundled_repo / "specs/nlp/ticket-router.yaml").read_text()
    assert "TODO" in spec and "sha256:" + "0" * 64 in spec and '"' + "0" * 40 + '"' in spec
    assert ("container:" in spec) == (runtime == "container")
    validate = run_mlopsc("validate", cwd=bundled_repo)
    assert (validate.code, validate.out) == (0, "5 project(s), 0 error(s), 0 warning(s)\n")
    compiles(bundled_repo)
    assert (bundled_repo / "generated/deploy/pipelines/nlp/ticket-router").is_dir()


def test_new_in_a_declared_team_leaves_mlopsc_yaml_alone_and_paths_follow_where_you_stand(bundled_repo):
    before = (bundled_repo / "mlopsc.yaml").read_bytes()
    result = run_mlopsc("new", "risk/aml-screening", cwd=bundled_repo / "specs" / "risk")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "mlopsc: wrote aml-screening.yaml"
    assert "  3. Commit aml-screening.yaml and generated/ and open a pull request" in result.out
    assert (bundled_repo / "mlopsc.yaml").read_bytes() == before
    compiles(bundled_repo)


def test_images_come_from_the_registry_the_policy_allows(bundled_repo):
    config = bundled_repo / "mlopsc.yaml"
    config.write_text(config.read_text().replace("allowedRegistries: [registry.example.com]",
                                                 "allowedRegistries: [ghcr.io/acme, registry.example.com]"))
    assert run_mlopsc("new", "nlp/intent", cwd=bundled_repo).code == 0
    assert "image: ghcr.io/acme/nlp/intent-train@sha256:" in (bundled_repo / "specs/nlp/intent.yaml").read_text()
    compiles(bundled_repo)


@pytest.mark.parametrize("args, message", [
    (["NLP/x"], "mlopsc: error: 'NLP/x' is not <team>/<project>: two DNS-1123 names"),
    (["nlp"], "mlopsc: error: 'nlp' is not <team>/<project>"),
    (["risk/fraud-detection"], "mlopsc: error: specs/risk/fraud-detection.yaml already exists"),
    (["nlp/x", "--runtime", "kserve:pickle"], "mlopsc: error: --runtime 'kserve:pickle' is not `container` or `kserve:<format>`"),
])
def test_new_refuses_bad_usage_with_exit_2_and_writes_nothing(bundled_repo, args, message):
    before = (bundled_repo / "mlopsc.yaml").read_bytes()
    result = run_mlopsc("new", *args, cwd=bundled_repo)
    assert result.code == 2 and result.err.startswith(message), result.err
    assert (bundled_repo / "mlopsc.yaml").read_bytes() == before
    assert not (bundled_repo / "specs/nlp").exists()


def test_new_outside_a_repository_says_to_run_init(tmp_path):
    result = run_mlopsc("new", "nlp/x", cwd=tmp_path)
    assert result.code == 2 and "run `mlopsc init`" in result.err


@pytest.mark.parametrize("text, expected", [
    ("teams: {}  # none yet\npolicy: {}\n", "teams:\n  nlp: {}  # none yet\npolicy: {}\n"),
    ("teams: {risk: {}}\n", "teams: {risk: {}, nlp: {}}\n"),
    ("teams:\n    # risk first\n    risk:\n        owners: [a@b.c]\n\n# trailing\n",
     "teams:\n    # risk first\n    risk:\n        owners: [a@b.c]\n    nlp: {}\n\n# trailing\n"),
    ("apiVersion: mlopsc.dev/v1\r\nkind: Repository\r\n", "apiVersion: mlopsc.dev/v1\r\nkind: Repository\r\nteams:\r\n  nlp: {}\r\n"),
])
def test_declare_team_splices_one_entry_in_the_file_s_own_style(text, expected):
    assert declare_team(text, "nlp") == expected


def test_init_starts_a_repository_where_new_and_compile_work(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc")
    result = run_mlopsc("init", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == ("mlopsc: wrote mlopsc.yaml, .pre-commit-config.yaml, "
                                          ".github/workflows/mlopsc.yml, specs/, .gitignore")
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n# mlopsc's scratch space (staging trees, fingerprints)\n.mlopsc/\n.venv/\n"
    # The workflow is the one docs/CI.md explains.
    assert (tmp_path / ".github/workflows/mlopsc.yml").read_bytes() == (REPO / "docs/examples/github-actions.yml").read_bytes()
    assert "- id: mlopsc-validate" in (tmp_path / ".pre-commit-config.yaml").read_text()
    assert run_mlopsc("validate", cwd=tmp_path).out == "0 project(s), 0 error(s), 0 warning(s)\n"
    assert run_mlopsc("new", "nlp/ticket-router", cwd=tmp_path / "specs").code == 0
    assert "teams:\n  nlp: {}\npolicy:" in (tmp_path / "mlopsc.yaml").read_text()
    compiles(tmp_path)
    again = run_mlopsc("init", cwd=tmp_path / "specs")
    assert again.code == 2 and "is a repository of specs already" in again.err


def test_new_writes_the_first_spec_of_a_repository_without_specs(tmp_path):
    # The least a repository with serving targets needs: the release image (P010).
    (tmp_path / "mlopsc.yaml").write_text("apiVersion: mlopsc.dev/v1\nkind: Repository\nkubeflow:\n"
                                          "  releaseImage: registry.example.com/ml/mlopsc@sha256:" + "ab" * 32 + "\n")
    before = run_mlopsc("validate", cwd=tmp_path)
    assert before.code == 1 and "error[Y008]" in before.out and "`mlopsc new <team>/<project>` writes the first spec" in before.out
    result = run_mlopsc("new", "nlp/ticket-router", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "mlopsc: wrote specs/nlp/ticket-router.yaml"  # no teams: any team
    compiles(tmp_path)


def test_the_readme_s_first_screen_shows_a_newcomer_mlopsc_new_and_the_tutorial():
    first_screen = "\n".join((REPO / "README.md").read_text(encoding="utf-8").splitlines()[:24])
    assert "`mlopsc new <team>/<project>`" in first_screen and "docs/TUTORIAL.md" in first_screen
