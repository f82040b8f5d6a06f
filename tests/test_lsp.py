"""`mlopsc lsp` end to end, with pytest-lsp as a real client talking to the server process over
stdio: the compiler's own diagnostics for unsaved buffers in the whole repository's context
(cross-project references included), hover with the rule page, go to definition, completion."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pygls.uris import from_fs_path

from conftest import REPO, copy_repo, line_col

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
FRAUD = "specs/risk/fraud-detection.yaml"
RECS = "specs/growth/merchant-recs.yaml"
TRIAGE = "specs/payments/dispute-triage.yaml"


@pytest.fixture
def repo(tmp_path):
    return copy_repo(REPO, tmp_path / "repo", with_generated=True)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "compiler", "lsp"]))
async def client(lsp_client: LanguageClient, repo):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(repo))))
    yield
    await lsp_client.shutdown_session()


def uri(repo, rel: str) -> str:
    return from_fs_path(str(repo / rel))


async def until(client: LanguageClient, condition, timeout: float = 30) -> None:
    async def wait():
        while not condition():
            await client.wait_for_notification(PUBLISH)
    await asyncio.wait_for(wait(), timeout)


def open_buffer(client: LanguageClient, repo, rel: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri(repo, rel), language_id="yaml", version=version, text=text)))


def change_buffer(client: LanguageClient, repo, rel: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri(repo, rel), version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def codes(client, repo, rel):
    return [(d.code, d.range.start.line + 1, d.range.start.character + 1)
            for d in client.diagnostics.get(uri(repo, rel), [])]


@pytest.mark.asyncio
async def test_an_unsaved_typo_is_diagnosed_with_the_compiler_s_own_codes_and_fixing_it_clears_them(client, repo):
    text = (repo / FRAUD).read_text()
    typo = text.replace("memory: 16Gi", "memory: 16GB")
    open_buffer(client, repo, FRAUD, typo)
    await until(client, lambda: codes(client, repo, FRAUD))
    line = typo.splitlines().index(next(l for l in typo.splitlines() if "16GB" in l)) + 1
    column = typo.splitlines()[line - 1].index("16GB") + 1
    [diagnostic] = client.diagnostics[uri(repo, FRAUD)]
    assert (diagnostic.code, diagnostic.range.start.line + 1, diagnostic.range.start.character + 1,
            diagnostic.range.end.character - diagnostic.range.start.character) == ("K002", line, column, 4)
    assert diagnostic.message.endswith("did you mean `16Gi`?")
    assert (repo / FRAUD).read_text() == text  # the buffer was never saved

    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, FRAUD)),
        position=types.Position(line=line - 1, character=column)))
    assert "### K002 invalid-quantity (error)" in hover.contents.value
    assert "**What it checks.**" in hover.contents.value and "**Fixed**" in hover.contents.value

    change_buffer(client, repo, FRAUD, text, 2)
    await until(client, lambda: not codes(client, repo, FRAUD))


@pytest.mark.asyncio
async def test_renaming_an_output_in_one_buffer_breaks_the_projects_that_read_it(client, repo):
    text = (repo / FRAUD).read_text()
    open_buffer(client, repo, FRAUD, text.replace("outputs: {model: model}", "outputs: {scorer: model}"))
    # One check publishes every file's diagnostics, one notification each, in no promised order:
    # wait for all three files (the edited one included) before looking.
    await until(client, lambda: codes(client, repo, RECS) and codes(client, repo, TRIAGE)
                and len({c for c, _, _ in codes(client, repo, FRAUD)}) >= 2)
    line, column = line_col(repo / RECS, "risk/fraud-detection:steps.train.outputs.model")
    assert codes(client, repo, RECS) == [("R001", line, column)]
    assert "step `train` in `risk/fraud-detection` has no output `model`" in client.diagnostics[uri(repo, RECS)][0].message
    assert {c for c, _, _ in codes(client, repo, FRAUD)} == {"R001", "R005"}  # no W002 for `scorer`: R001 meant it


@pytest.mark.asyncio
async def test_go_to_definition_of_references_gates_and_evidence(client, repo):
    recs = (repo / RECS).read_text()
    open_buffer(client, repo, RECS, recs)
    line, column = line_col(repo / RECS, "risk/fraud-detection:steps.train.outputs.model")
    found = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, RECS)),
        position=types.Position(line=line - 1, character=column + 5)))
    model_line, model_column = line_col(repo / FRAUD, "model: model")
    assert (found.uri, found.range.start.line + 1, found.range.start.character + 1) == \
        (uri(repo, FRAUD), model_line, model_column)

    line, column = line_col(repo / FRAUD, "steps.features.outputs.train")
    open_buffer(client, repo, FRAUD, (repo / FRAUD).read_text())
    found = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, FRAUD)),
        position=types.Position(line=line - 1, character=column)))
    target_line, target_column = line_col(repo / FRAUD, "train: dataset")
    assert (found.range.start.line + 1, found.range.start.character + 1) == (target_line, target_column)

    line, column = line_col(repo / FRAUD, "gates: [holdout]")
    found = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, FRAUD)),
        position=types.Position(line=line - 1, character=column + 9)))
    assert found.range.start.line + 1 == line_col(repo / FRAUD, "    holdout:")[0]

    line, column = line_col(repo / FRAUD, "evidence/risk/fraud-detection/run-0142.json")
    found = await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, FRAUD)),
        position=types.Position(line=line - 1, character=column + 3)))
    assert found.uri == uri(repo, "evidence/risk/fraud-detection/run-0142.json")


@pytest.mark.asyncio
async def test_completion_offers_this_project_s_sources_and_every_project_s_outputs(client, repo):
    recs = (repo / RECS).read_text()
    open_buffer(client, repo, RECS, recs)
    line, column = line_col(repo / RECS, "fraud_model: ")
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, RECS)),
        position=types.Position(line=line - 1, character=column + len("fraud_model: ") - 1)))
    labels = {item.label for item in result.items}
    assert {"sources.merchants", "steps.train.outputs.model",
            "risk/fraud-detection:steps.train.outputs.model"} <= labels
    assert "sources.transactions" not in labels  # another project's sources are not readable refs
    assert not any(label.startswith("growth/merchant-recs:") for label in labels)


@pytest.mark.asyncio
async def test_a_new_unsaved_spec_is_checked_against_mlopsc_yaml(client, repo):
    from compiler.commands.new import render_spec

    rel = "specs/nlp/intent.yaml"
    open_buffer(client, repo, rel, render_spec("nlp", "intent", "kserve:sklearn", "registry.example.com",
                                               ["staging", "production"]))
    await until(client, lambda: codes(client, repo, rel))
    [diagnostic] = client.diagnostics[uri(repo, rel)]
    assert diagnostic.code == "N004"
    assert diagnostic.message.endswith("add `nlp: {}` under `teams:` in mlopsc.yaml")
    assert not (repo / rel).exists()


@pytest.mark.asyncio
async def test_hover_on_a_reference_says_what_it_names_and_where(client, repo):
    open_buffer(client, repo, RECS, (repo / RECS).read_text())
    line, column = line_col(repo / RECS, "risk/fraud-detection:steps.train.outputs.model")
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri(repo, RECS)),
        position=types.Position(line=line - 1, character=column + 2)))
    model_line, _ = line_col(repo / FRAUD, "model: model")
    assert hover.contents.value == (f"model `model` of step `train` in `risk/fraud-detection` "
                                    f"({FRAUD}:{model_line})")
