"""The two things a new user does first: validate the contract's examples, compile the bundled specs."""

from conftest import EXAMPLES, REPO, run_mlopsc


def test_contract_examples_validate_cleanly():
    result = run_mlopsc("validate", cwd=EXAMPLES)
    assert result.code == 0, result.out
    assert "error[" not in result.out


def test_bundled_generated_is_up_to_date():
    result = run_mlopsc("compile", "--check", cwd=REPO)
    assert result.code == 0, result.out + result.err
