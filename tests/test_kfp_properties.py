"""Whatever values a spec gives params, env and the description, the IR file stays readable YAML,
parses strictly as a PipelineSpec, and kfp loads the very same pipeline from it."""

from __future__ import annotations

import yaml
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kfp import components
from kfp.pipeline_spec import pipeline_spec_pb2

from compiler.backends import Document
from compiler.backends.kfp.ir import PipelineBuilder
from compiler.frontend.models import MLProject
from compiler.output.serialize import serialize

SCALARS = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
ENV = st.text(max_size=6) | st.integers() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)


def project(params: dict, env: dict, description: str) -> MLProject:
    return MLProject.model_validate({
        "apiVersion": "mlopsc.dev/v1", "kind": "MLProject",
        "metadata": {"name": "props", "team": "risk", "description": description},
        "spec": {"steps": {"train": {"image": "registry.example.com/t@sha256:" + "a" * 64,
                                     "code": {"repo": "https://git.example.com/t.git", "commit": "b" * 40},
                                     "params": params, "env": env}}}})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), VALUES, max_size=4),
       env=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True), ENV, max_size=3),
       description=st.text(max_size=30))
def test_any_values_give_a_readable_pipeline_kfp_loads(tmp_path, params, env, description):
    pipeline = PipelineBuilder(project(params, env, description), {}, "s3://root", "registry.example.com/r",
                               "cloud.google.com/gke-accelerator").build()
    documents = [pipeline.spec] + ([pipeline.platform] if pipeline.platform else [])
    text = serialize(Document("pipeline.yaml", documents, "yaml-stream", header=pipeline.header,
                              sort_keys=True)).decode("utf-8")
    assert list(yaml.safe_load_all(text)) == documents  # the comment header broke nothing
    json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = components.load_component_from_file(str(path))
    assert json_format.MessageToDict(loaded.pipeline_spec) == documents[0]
