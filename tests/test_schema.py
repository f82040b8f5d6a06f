"""`mlopsc schema`: the JSON Schema editors use to complete and check specs. The bundled specs and
the contract's examples validate against it, a typo does not, and every spec file points its
editor at the schema that compile writes under generated/schema/."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, REPO, run_mlopsc

from compiler.frontend.yaml_source import load_yaml

SPEC_MODELINE = "# yaml-language-server: $schema=../../generated/schema/mlproject.schema.json"
CONFIG_MODELINE = "# yaml-language-server: $schema=generated/schema/repository.schema.json"
BUNDLED_SPECS = sorted((REPO / "specs").glob("*/*.yaml"))
ALL_SPECS = BUNDLED_SPECS + sorted((EXAMPLES / "specs").glob("*/*.yaml"))


def _schema(kind: str) -> dict:
    result = run_mlopsc("schema", "--kind", kind, cwd=REPO)
    assert result.code == 0
    return json.loads(result.out)


def _validator(kind: str) -> jsonschema.protocols.Validator:
    """A validator for `mlopsc schema --kind KIND`, after checking the schema itself is valid."""
    schema = _schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def project_validator() -> jsonschema.protocols.Validator:
    return _validator("MLProject")


@pytest.fixture(scope="module")
def config_validator() -> jsonschema.protocols.Validator:
    return _validator("Repository")


def _data(path: Path):
    # The compiler's own reading (dates stay strings, as YAML 1.2 editors read them).
    doc, problems = load_yaml(path.read_bytes(), path.name)
    assert not problems
    return doc.data


def _errors(validator, data) -> list[str]:
    """Each error where an editor would underline it: inside `anyOf` (optional fields), the most
    relevant branch's error: the one that got deepest into the value."""
    found = []
    for error in validator.iter_errors(data):
        while error.context:
            error = max(error.context, key=lambda branch: len(branch.absolute_path))
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
    return sorted(found)


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: f"{p.parents[2].name}:{p.parent.name}/{p.name}")
def test_specs_validate_against_the_schema(project_validator, path):
    assert _errors(project_validator, _data(path)) == []


@pytest.mark.parametrize("root", [REPO, EXAMPLES], ids=["bundled", "examples"])
def test_repository_settings_validate_against_the_schema(config_validator, root):
    assert _errors(config_validator, _data(root / "mlopsc.yaml")) == []


def test_unknown_field_and_wrong_type_fail_the_schema(project_validator):
    data = _data(REPO / "specs/risk/fraud-detection.yaml")
    data["spec"]["sources"]["transactions"]["formt"] = "parquet"
    data["spec"]["serving"]["fraud-api"]["environments"]["staging"]["canary"]["percent"] = "20"
    data["spec"]["serving"]["fraud-api"]["runtime"]["kserve"]["format"] = "xgbost"
    errors = _errors(project_validator, data)
    assert len(errors) == 3, errors
    assert "spec/sources/transactions: Additional properties are not allowed ('formt' was unexpected)" in errors
    assert any(e.startswith("spec/serving/fraud-api/environments/staging/canary/percent: ") for e in errors)
    assert any(e.startswith("spec/serving/fraud-api/runtime/kserve/format: 'xgbost' is not one of") for e in errors)


def test_missing_required_field_fails_the_schema(project_validator):
    data = _data(REPO / "specs/risk/fraud-detection.yaml")
    del data["spec"]["steps"]["train"]["code"]
    assert _errors(project_validator, data) == ["spec/steps/train: 'code' is a required property"]


@pytest.mark.parametrize("path", BUNDLED_SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bundled_spec_points_its_editor_at_the_schema(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == SPEC_MODELINE
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == REPO / "generated/schema/mlproject.schema.json" and target.is_file()


def test_mlopsc_yaml_points_its_editor_at_the_repository_schema():
    first = (REPO / "mlopsc.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == CONFIG_MODELINE
    assert (REPO / first.split("$schema=", 1)[1]).is_file()


@pytest.mark.parametrize("kind, filename", [("MLProject", "mlproject.schema.json"),
                                            ("Repository", "repository.schema.json")])
def test_schema_command_prints_what_compile_writes(kind, filename):
    assert _schema(kind) == json.loads((REPO / "generated/schema" / filename).read_text(encoding="utf-8"))


def test_schema_describes_every_field_for_editors():
    """Editors show descriptions on hover and completion; every object and field has one."""
    for kind in ("MLProject", "Repository"):
        schema = _schema(kind)
        objects = {kind: schema, **schema["$defs"]}
        for name, obj in objects.items():
            assert obj.get("description"), name
            for field, prop in obj.get("properties", {}).items():
                # A field whose description is its model's says it once, on the model.
                ref = prop.get("$ref", "").rpartition("/")[2]
                assert prop.get("description") or objects.get(ref, {}).get("description"), f"{name}.{field}"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_lists_closed_choices_as_enums():
    defs = _schema("MLProject")["$defs"]
    assert defs["KServeRuntime"]["properties"]["format"]["enum"] == [
        "sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "tensorflow", "triton", "huggingface"]
    outputs = defs["Step"]["properties"]["outputs"]["additionalProperties"]
    assert outputs["enum"] == ["dataset", "model", "metrics"]
    assert _schema("Repository")["$defs"]["KServeSettings"]["properties"]["deploymentMode"]["enum"] == [
        "Standard", "Knative"]
