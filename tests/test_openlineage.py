"""OpenLineage export: schema-valid static events that connect lineage across teams.

openlineage-python ships the client models of the spec (generated from its JSON Schema), not the
schema files. The validator below is derived from those models at test time: every attrs class
becomes a closed JSON Schema object, every facet is dispatched on its `_schemaURL` to the model of
exactly that facet version, and `schemaURL`s must equal the ones the client itself writes, which
pins spec 2-0-2. So an event passes only if the installed client could have written it.
"""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import types
import typing
from urllib.parse import urlsplit

import attr
import jsonschema
import pytest
from conftest import EXAMPLES, copy_repo, edit, run_mlopsc

from compiler.backends import openlineage as ol
from compiler.build import Layout, load_and_check

FRAUD_MODEL = ("s3://ml-artifacts", "pipelines/risk/fraud-detection/train/model")
RECS_MODEL = ("s3://ml-artifacts", "pipelines/growth/merchant-recs/train/model")
# Fields the client always fills in itself, which the published spec requires.
_ALWAYS_WRITTEN = {"producer", "schemaURL", "_producer", "_schemaURL"}


# -- a JSON Schema from the client's models ------------------------------------------------------
def _facet_models():
    import openlineage.client.generated as generated
    from openlineage.client.generated import base

    found = []
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and attr.has(obj) and issubclass(obj, base.BaseFacet)
                    and obj.__module__ == module.__name__ != base.__name__):
                found.append(obj)
    return found


def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


class _SchemaBuilder:
    def __init__(self):
        from openlineage.client.generated import base

        self.base = base
        self.facets = _facet_models()
        self.defs: dict[str, dict] = {}

    def ref(self, cls) -> dict:
        key = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}"
        if key not in self.defs:
            self.defs[key] = {}  # placeholder against recursion
            self.defs[key] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{key}"}

    def object_schema(self, cls) -> dict:
        hints = typing.get_type_hints(cls)
        props, required = {}, []
        for f in attr.fields(cls):
            schema = self.of(hints[f.name])
            if f.name in ("schemaURL", "_schemaURL"):
                schema = {"const": cls._get_schema()}
            elif f.name in ("producer", "_producer"):
                schema = {"type": "string", "format": "uri"}
            elif f.name == "eventTime":
                schema = {"type": "string", "format": "date-time"}
            props[f.name] = schema
            if f.default is attr.NOTHING or f.name in _ALWAYS_WRITTEN:
                required.append(f.name)
        return {"type": "object", "properties": props, "required": required,
                "additionalProperties": False}

    def of(self, tp) -> dict:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            options = [self.of(a) for a in args if a is not type(None)]
            return options[0] if len(options) == 1 else {"anyOf": options}
        if origin is list:
            return {"type": "array", "items": self.of(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(args[1])}
        if tp is typing.Any:
            return {}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [m.value for m in tp]}
        if isinstance(tp, type) and attr.has(tp):
            if issubclass(tp, self.base.BaseFacet) and tp.__module__ == self.base.__name__:
                # A facet slot: any facet model of that family, chosen by its `_schemaURL`.
                return {"oneOf": [self.ref(f) for f in self.facets if issubclass(f, tp)]}
            return self.ref(tp)
        simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
        return {"type": simple[tp]}


@pytest.fixture(scope="session")
def validator():
    from openlineage.client.event_v2 import DatasetEvent, JobEvent

    builder = _SchemaBuilder()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "oneOf": [builder.ref(JobEvent), builder.ref(DatasetEvent)]}
    schema["$defs"] = builder.defs
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(_uri)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


@pytest.fixture(scope="module")
def events(checked_examples):
    return ol.events(checked_examples)


def _jobs(events) -> dict[tuple[str, str], dict]:
    return {(e["job"]["namespace"], e["job"]["name"]): e for e in events if "job" in e}


def _identity(ds) -> tuple[str, str]:
    return ds["namespace"], ds["name"]


# -- validity ------------------------------------------------------------------------------------
def test_every_event_validates_against_the_client_schema(validator, events):
    assert events
    for event in events:
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
        assert not errors, (event.get("job") or event["dataset"])["name"] + ": " + errors[0].message


@pytest.mark.parametrize("breakage", ["unknown facet version", "no job namespace", "version not a string",
                                      "no eventTime", "stray field"])
def test_the_validator_rejects_what_the_spec_rejects(validator, events, breakage):
    event = json.loads(json.dumps(next(e for e in events if "job" in e and e["inputs"])))
    if breakage == "unknown facet version":
        event["job"]["facets"]["sourceCodeLocation"]["_schemaURL"] = event["job"]["facets"][
            "sourceCodeLocation"]["_schemaURL"].replace("1-1-0", "9-9-9")
    elif breakage == "no job namespace":
        del event["job"]["namespace"]
    elif breakage == "version not a string":
        event["inputs"][0]["facets"]["version"]["datasetVersion"] = 3
    elif breakage == "no eventTime":
        del event["eventTime"]
    else:
        event["job"]["owner"] = "risk"
    assert not validator.is_valid(event)


def test_pinned_versions_are_the_ones_the_client_writes():
    from openlineage.client.event_v2 import DatasetEvent, JobEvent

    assert JobEvent._get_schema() == f"https://openlineage.io/spec/{ol.SPEC_VERSION}/OpenLineage.json#/$defs/JobEvent"
    assert DatasetEvent._get_schema().endswith(f"/{ol.SPEC_VERSION}/OpenLineage.json#/$defs/DatasetEvent")
    urls = {f.__name__: f._get_schema() for f in _facet_models()}
    for facet in ol.FACET_VERSIONS:
        assert ol.facet_schema_url(facet) == urls[facet]


# -- content -------------------------------------------------------------------------------------
def test_one_job_per_step_and_evaluation_with_its_code_location(checked_examples, events):
    jobs = _jobs(events)
    expected = set()
    for project in checked_examples.projects:
        meta, spec = project.model.metadata, project.model.spec
        for section, items in (("steps", spec.steps), ("evaluations", spec.evaluations)):
            for name, item in items.items():
                key = (meta.team, f"{meta.name}.{section}.{name}")
                expected.add(key)
                location = jobs[key]["job"]["facets"]["sourceCodeLocation"]
                assert (location["type"], location["repoUrl"], location["version"], location["path"]) == \
                    ("git", item.code.repo, item.code.commit, item.code.path)
                owners = [o["name"] for o in jobs[key]["job"]["facets"]["ownership"]["owners"]]
                assert owners == [f"team:{meta.team}"] + [f"user:{o}" for o in meta.owners]
    assert set(jobs) == expected


def test_datasets_carry_version_facets_from_the_specs(events):
    jobs = _jobs(events)
    features = jobs[("risk", "fraud-detection.steps.features")]
    inputs = {_identity(d): d["facets"]["version"]["datasetVersion"] for d in features["inputs"]}
    assert inputs == {
        ("s3://risk-lake", "transactions"): "2026-11-01",
        ("s3://risk-lake", "chargebacks"): "sha256:c9cbc74a5d80acf9bf160e202da5e3f32d1cd9a83a091316a2553c89ba2eb38c",
    }
    assert all("version" in d["facets"] for e in jobs.values() for d in e["inputs"] + e["outputs"])
    released = [e["dataset"] for e in events if "dataset" in e and _identity(e["dataset"]) ==
                ("s3://risk-models", "fraud/run-0142")]
    assert len(released) == 1  # pinned in staging and production: one dataset version
    assert released[0]["facets"]["version"]["datasetVersion"] == \
        "sha256:02ee06b94f45a505ebf939c8d6d27ba1cb0811f02636ca0c761de6c3aacf0cdf"
    assert released[0]["facets"]["symlinks"]["identifiers"][0]["name"] == FRAUD_MODEL[1]
    recs_train = jobs[("growth", "merchant-recs.steps.train")]
    tables = [d for d in recs_train["inputs"] if d["namespace"] == "bigquery"]
    assert [(d["name"], d["facets"]["version"]["datasetVersion"]) for d in tables] == \
        [("growth.merchants_daily", "2026-11-27")]


def test_a_cross_team_input_is_the_same_dataset_version_the_other_team_produces(events):
    jobs = _jobs(events)
    produced = next(d for d in jobs[("risk", "fraud-detection.steps.train")]["outputs"]
                    if _identity(d) == FRAUD_MODEL)
    consumed = next(d for d in jobs[("growth", "merchant-recs.steps.train")]["inputs"]
                    if _identity(d) == FRAUD_MODEL)
    assert consumed["facets"]["version"] == produced["facets"]["version"]


def test_an_upstream_commit_change_versions_every_downstream_artifact(tmp_path, events):
    repo = copy_repo(EXAMPLES, tmp_path / "repo")
    edit(repo / "specs/risk/fraud-detection.yaml", "4f944542e06cd6f28fa72685120ec1c9e2b84a27",
         "ab" * 20)  # the features step's commit
    changed_repo = load_and_check(Layout(repo))
    assert not changed_repo.has_errors, changed_repo.diagnostics
    changed = ol.events(changed_repo)

    def versions(evts):
        return {_identity(e["dataset"]): e["dataset"]["facets"]["version"]["datasetVersion"]
                for e in evts if "dataset" in e}

    before, after = versions(events), versions(changed)
    assert before[FRAUD_MODEL] != after[FRAUD_MODEL]
    assert before[RECS_MODEL] != after[RECS_MODEL]  # another team's model, trained on it
    assert before[("s3://growth-lake", "sessions")] == after[("s3://growth-lake", "sessions")]


@pytest.mark.parametrize("uri", ["s3://risk-lake/transactions/", "gs://bucket/a/b.parquet"])
def test_dataset_names_follow_the_clients_naming_helpers(uri):
    from openlineage.client.naming import dataset as naming

    parts = urlsplit(uri)
    helper = {"s3": naming.S3, "gs": naming.GCS}[parts.scheme](parts.netloc, parts.path.strip("/"))
    assert ol.dataset_identity(uri) == (helper.get_namespace(), helper.get_name())


# -- command line and generated file -------------------------------------------------------------
def test_each_projects_generated_events_are_what_graph_prints_for_it(tmp_path):
    repo = copy_repo(EXAMPLES, tmp_path / "repo")
    assert run_mlopsc("compile", cwd=repo).code == 0
    files = sorted((repo / "generated" / "lineage" / "openlineage").rglob("*.json"))
    assert [f.relative_to(repo / "generated").as_posix() for f in files] == \
        [ol.project_path("growth/merchant-recs"), ol.project_path("risk/fraud-detection")]
    for key in ("growth/merchant-recs", "risk/fraud-detection"):
        result = run_mlopsc("graph", "--format", "openlineage", "--select", f"project:{key}", cwd=repo)
        assert result.code == 0, result.err
        assert result.out == (repo / "generated" / ol.project_path(key)).read_text(encoding="utf-8")


def test_graph_openlineage_honours_selectors(events):
    result = run_mlopsc("graph", "--format", "openlineage", "--select", "team:growth", cwd=EXAMPLES)
    assert result.code == 0, result.err
    selected = json.loads(result.out)
    assert {e["job"]["namespace"] for e in selected if "job" in e} == {"growth"}
    assert len(selected) < len(events)
    bad = run_mlopsc("graph", "--format", "openlineage", "--select", "team:rsk", cwd=EXAMPLES)
    assert bad.code == 2 and "did you mean `risk`" in bad.err
