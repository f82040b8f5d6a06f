"""The fast YAML serialiser writes exactly the bytes `yaml.dump` (libyaml) writes."""

from __future__ import annotations

import math

import pytest
import yaml
from conftest import EXAMPLES, REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from test_generate import load_generator

from compiler.build import Layout, emit_documents, load_and_check
from compiler.output.serialize import serialize

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def reference(content, *, stream: bool, sort_keys: bool) -> str:
    """What PyYAML's own dumper writes for the same options."""
    options = dict(Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, allow_unicode=True)
    return yaml.dump_all(content, **options) if stream else yaml.dump(content, **options)


def documents_of(root):
    checked = load_and_check(Layout(root))
    assert not checked.has_errors
    return emit_documents(checked)


@pytest.fixture(scope="module")
def generated_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("ser") / "repo"
    load_generator().generate(root, 10, teams=2, seed=5)
    return root


@pytest.mark.parametrize("which", ["bundled", "examples", "generated"])
def test_every_emitted_document_has_pyyaml_s_bytes(which, generated_repo):
    root = {"bundled": REPO, "examples": EXAMPLES, "generated": generated_repo}[which]
    yaml_documents = [d for d in documents_of(root) if d.format in ("yaml", "yaml-stream")]
    assert len(yaml_documents) > 10
    for doc in yaml_documents:
        expected = doc.header + reference(doc.content, stream=doc.format == "yaml-stream", sort_keys=doc.sort_keys)
        assert serialize(doc) == expected.encode(), doc.path


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "yes", "no", "on", "null", "~", "1.0", "0o17", "0x1F", "1e3", ".inf", "2026-11-01",
     "12:30:00", "- item", "a: b", "#comment", " leading", "trailing ", "multi\nline\n", "tab\there",
     "'quoted'", '"double"', "{x}", "[y]", "*alias", "&anchor", "!tag", "%", "@", "`", "é ü 漢字",
     "\u2028", "\x85", "\ufeff", "a" * 100, "word " * 30])
_floats = st.floats(allow_nan=True) | st.sampled_from([0.0, -0.0, 1e17, 1e-7, 10.0, math.inf, -math.inf])
_scalars = _text | st.integers() | _floats | st.booleans() | st.none()
_keys = _text | st.integers(min_value=-5, max_value=5) | st.booleans()
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_keys, inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(content=_values, sort_keys=st.booleans())
def test_any_plain_data_has_pyyaml_s_bytes(content, sort_keys):
    from compiler.backends import Document

    doc = Document("x.yaml", content, "yaml", sort_keys=sort_keys)
    assert serialize(doc) == reference(content, stream=False, sort_keys=sort_keys).encode()


@settings(max_examples=100, deadline=None)
@given(shared=st.dictionaries(_text, _scalars, min_size=1, max_size=3), items=st.lists(_scalars, max_size=3),
       sort_keys=st.booleans())
def test_shared_objects_become_the_same_anchors_and_aliases(shared, items, sort_keys):
    from compiler.backends import Document

    listed = list(items)
    content = [{"a": shared, "b": [shared, listed], "c": listed}, shared]
    doc = Document("x.yaml", content, "yaml-stream", sort_keys=sort_keys)
    expected = reference(content, stream=True, sort_keys=sort_keys)
    assert "&id001" in expected
    assert serialize(doc) == expected.encode()
