"""tests/crd_schema.py, the strict CRD check every emitter's tests rely on, catches what it claims."""

from __future__ import annotations

import jsonschema
import pytest

from crd_schema import strict_schema, validate_strict

PIPELINE = {"apiVersion": "pipelines.kubeflow.org/v2beta1", "kind": "Pipeline",
            "metadata": {"name": "risk-fraud-detection", "namespace": "risk", "labels": {"team": "risk"}},
            "spec": {"displayName": "risk/fraud-detection", "description": "Scores transactions."}}


def with_(obj: dict, path: tuple, value) -> dict:
    """A deep copy of `obj` with the value at `path` set."""
    import copy

    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def test_a_valid_object_passes():
    assert validate_strict(PIPELINE) == []


@pytest.mark.parametrize("path, value, expected", [
    (("spec", "descripton"), "typo", "spec: Additional properties are not allowed ('descripton' was unexpected)"),
    (("metadata", "lables"), {}, "metadata: Additional properties are not allowed ('lables' was unexpected)"),
    (("metadata", "name"), "Risk_Fraud", "metadata.name: 'Risk_Fraud' does not match"),
    (("metadata", "labels", "team"), 3, "metadata.labels.team: 3 is not of type 'string'"),
    (("spec", "displayName"), ["a"], "spec.displayName: ['a'] is not of type 'string'"),
])
def test_what_the_api_server_or_a_strict_check_would_refuse(path, value, expected):
    errors = validate_strict(with_(PIPELINE, path, value))
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_every_error_is_reported_at_once():
    broken = with_(with_(PIPELINE, ("spec", "displayname"), "x"), ("metadata", "name"), "UPPER")
    assert [e.split(":")[0] for e in validate_strict(broken)] == ["metadata.name", "spec"]


def test_open_fields_stay_open_and_patterns_apply():
    version = {"apiVersion": "pipelines.kubeflow.org/v2beta1", "kind": "PipelineVersion",
               "metadata": {"name": "p-0123456789"},
               "spec": {"pipelineName": "p", "pipelineSpec": {"anything": {"goes": [1, "here"]}}}}
    assert validate_strict(version) == []  # x-kubernetes-preserve-unknown-fields
    assert validate_strict(with_(version, ("spec", "versionName"), "Not-Valid!"))[0].startswith("spec.versionName")
    assert validate_strict(with_(version, ("spec",), {"pipelineName": "p"})) == [
        "spec: 'pipelineSpec' is a required property"]


def test_unknown_kinds_and_versions_are_errors_not_passes():
    assert validate_strict({"apiVersion": "v1", "kind": "Service"})[0].startswith("<root>: no CRD")
    assert validate_strict(with_(PIPELINE, ("apiVersion",), "pipelines.kubeflow.org/v9"))[0].startswith("<root>: no CRD")


def test_int_or_string_fields_take_either_but_nothing_else():
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"},
           "spec": {"project": "p", "destination": {"server": "https://kubernetes.default.svc"},
                    "source": {"repoURL": "https://git.example.com/r.git", "path": "deploy",
                               "kustomize": {"replicas": [{"name": "web", "count": 3}]}}}}
    assert validate_strict(app) == []
    assert validate_strict(with_(app, ("spec", "source", "kustomize", "replicas", 0, "count"), "3")) == []
    errors = validate_strict(with_(app, ("spec", "source", "kustomize", "replicas", 0, "count"), [3]))
    assert errors and errors[0].startswith("spec.source.kustomize.replicas.0.count")


def test_list_map_keys_must_be_unique():
    """x-kubernetes-list-type: map (container ports by port and protocol), on the real KServe CRD."""
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "m"},
            "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "i",
                                                   "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}
    assert validate_strict(isvc) == []
    ports = [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 8080, "protocol": "TCP"}]
    errors = validate_strict(with_(isvc, ("spec", "predictor", "containers", 0, "ports"), ports))
    assert errors == ["spec.predictor.containers.0.ports: item 1 repeats the list-map key "
                      "{'containerPort': 8080, 'protocol': 'TCP'}"]


def test_schema_translation_of_the_kubernetes_extensions():
    schema = strict_schema({
        "type": "object",
        "properties": {
            "maybe": {"type": "string", "nullable": True},
            "quantity": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "free": {"type": "object", "properties": {"a": {"type": "string"}},
                     "x-kubernetes-preserve-unknown-fields": True},
            "object": {"type": "object", "x-kubernetes-embedded-resource": True,
                       "properties": {"spec": {"type": "object"}}},
            # structural schemas repeat properties inside allOf for value checks: not a closed set
            "both": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                     "allOf": [{"properties": {"b": {"type": "string"}}}]},
        },
    })
    validator = jsonschema.Draft4Validator(schema)

    def errors(instance):
        return [e.message for e in validator.iter_errors(instance)]

    assert errors({"maybe": None, "quantity": "50%", "tags": ["a", "b"], "free": {"x": 1},
                   "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "spec": {}},
                   "both": {"a": "x", "b": "y"}}) == []
    assert errors({"quantity": 2.5}) and errors({"tags": ["a", "a"]}) and errors({"typo": 1})
    assert errors({"both": {"c": "z"}})
    assert errors({"object": {"kind": "ConfigMap", "extra": 1}})  # embedded objects are closed too
