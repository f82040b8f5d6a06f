"""compiler/backends/k8s_models.py stands in for the kubernetes client's models: same fields in the
same order, same serialisation, so the serving manifests are byte for byte what the client gives."""

from __future__ import annotations

import inspect

import pytest
from kubernetes import client

from compiler.backends import k8s_models
from test_serving_variants import VARIANTS, variant_root


def test_table_is_the_installed_clients_models():
    for name, spec in k8s_models.MODELS.items():
        real = getattr(client, name)
        fields = k8s_models.__getattr__(name).fields
        assert [attr for attr, _ in fields] == list(real.openapi_types), name
        assert [key for _, key in fields] == [real.attribute_map[a] for a in real.openapi_types], name
        required = {a for a in real.openapi_types
                    if "must not be `None`" in inspect.getsource(getattr(real, a).fset)}
        assert k8s_models.__getattr__(name).required == required, name


def test_a_misspelt_or_missing_field_fails_like_the_client():
    with pytest.raises(TypeError, match="replica"):
        k8s_models.V1DeploymentSpec(replica=2, selector={}, template={})
    with pytest.raises(ValueError, match="name"):
        k8s_models.V1Container(image="x")


def test_a_model_missing_from_the_table_comes_from_the_client():
    assert k8s_models.V1PodDisruptionBudget is client.V1PodDisruptionBudget
    budget = k8s_models.V1PodDisruptionBudget(metadata=k8s_models.V1ObjectMeta(name="a", labels={"x": "y"}))
    assert k8s_models.sanitize(budget) == {"metadata": {"labels": {"x": "y"}, "name": "a"}}


@pytest.mark.parametrize("name", VARIANTS)
def test_serving_manifests_are_what_the_client_serialises(name, monkeypatch):
    import compiler.backends
    from compiler.backends import kubernetes as serving
    from compiler.build import Layout, load_and_check
    from compiler.output.serialize import serialize

    checked = load_and_check(Layout(variant_root(name)))
    ours = {d.path: serialize(d) for d in serving.emit(checked)}
    monkeypatch.setattr(compiler.backends, "k8s_models", client)
    theirs = {d.path: serialize(d) for d in serving.emit(checked)}
    assert ours and ours == theirs


def test_every_model_the_serving_emitter_builds_is_in_the_table():
    """A model missing from the table still works (from the client), but costs start-up its import."""
    import re

    from compiler.backends import kubernetes as serving

    used = set(re.findall(r"\b(?:k|k8s|client)\.(V\d\w+)\(", inspect.getsource(serving)))
    assert {"V1ServiceAccount", "V1ObjectReference", "V1Probe", "V1PodSecurityContext"} <= used
    assert sorted(used - set(k8s_models.MODELS)) == []
