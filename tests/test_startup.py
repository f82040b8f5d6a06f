"""Start-up stays light (issue 13, goal 4; bench/startup_bench.py measures it): a command imports
what it uses and no other command's dependencies, and what was moved out of the import path for
speed still gives the same results: the spec models' descriptions are the ones pydantic's
`use_attribute_docstrings` would give, and the command line reads as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from conftest import REPO, run_mlopsc
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

from compiler.backends.jinja_templates import PycacheBytecode
from compiler.cli import COMMANDS, command_named
from compiler.frontend import models


def _spec_models() -> list[type[models._Spec]]:
    return [cls for cls in vars(models).values()
            if isinstance(cls, type) and issubclass(cls, models._Spec) and cls is not models._Spec]


def _pydantic_description(cls: type, name: str) -> str | None:
    """What `use_attribute_docstrings=True` gives a field: the docstring under its declaration in
    the nearest class of the MRO that declares it (models.py gives no description through Field)."""
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return extract_docstrings_from_cls(klass, use_inspect=True).get(name)
    return None


def test_spec_model_descriptions_are_pydantics_attribute_docstrings():
    described = 0
    for cls in _spec_models():
        for name, field in cls.model_fields.items():
            assert field.description == _pydantic_description(cls, name), f"{cls.__name__}.{name}"
            described += field.description is not None
    assert described >= 150  # nearly every field of the language is described


@pytest.mark.parametrize("argv, command", [
    (["compile", "--check"], "compile"),
    (["-C", "somewhere", "--specs", "s", "--out=o", "graph", "--format", "json"], "graph"),
    (["--config", "compile", "validate"], "validate"),  # `compile` is the option's value
    (["--help"], None),
    (["-h", "compile"], None),  # the top-level help, which lists every command
    (["compil"], None),
    (["--specs"], None),
    ([], None),
])
def test_the_command_is_found_as_argparse_reads_it(argv, command):
    assert command_named(argv) == command


def test_help_lists_every_command():
    result = run_mlopsc("-h", "compile", cwd=REPO)
    assert result.code == 0
    listed = [line.split()[0] for line in result.out.splitlines() if line.startswith("    ") and line.split()]
    assert [c for c in listed if c in COMMANDS] == COMMANDS


def test_usage_errors_are_the_full_parsers():
    misspelt = run_mlopsc("compil", cwd=REPO)
    assert misspelt.code == 2
    assert "invalid choice: 'compil' (choose from " + ", ".join(f"'{c}'" for c in COMMANDS) + ")" in misspelt.err
    unknown = run_mlopsc("compile", "--bogus", cwd=REPO)
    assert unknown.code == 2
    assert "mlopsc: error: unrecognized arguments: --bogus" in unknown.err


def test_compile_imports_no_other_commands_dependencies(bundled_repo):
    """`compile --check` in its own interpreter loads the compile command's module only: not the
    KFP REST client (`mlopsc schedules`), asyncio (`mlopsc lsp`) or another command's module."""
    probe = ("import sys\n"
             "from compiler.cli import main\n"
             "code = main(['-C', sys.argv[1], 'compile', '--check'])\n"
             "print(' '.join(sorted(m for m in sys.modules if m.startswith('compiler.commands.'))))\n"
             "print(' '.join(m for m in ('compiler.kfp_api', 'asyncio', 'tarfile', 'http.client')"
             " if m in sys.modules))\n"
             "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(bundled_repo)], capture_output=True, text=True,
                          cwd=bundled_repo)
    assert proc.returncode == 0, proc.stderr
    commands, others = proc.stdout.splitlines()
    assert commands == "compiler.commands.common compiler.commands.compile"
    assert others == ""


# ------------------------------------------------------------------ templates compiled once
def _environment(directory: Path, **options) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(directory),
                              bytecode_cache=PycacheBytecode(directory, repr(sorted(options.items()))),
                              **options)


def _uncompilable(env: jinja2.Environment, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("compiled again although the cache holds it")
    monkeypatch.setattr(env, "compile", refuse)


def test_a_template_is_compiled_once_and_again_when_it_or_its_options_change(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.j2").write_text("{% for x in xs %}\n{{ x }};\n{% endfor %}\n")
    assert _environment(templates, trim_blocks=True).get_template("page.j2").render(xs=[1, 2]) == "1;\n2;\n"
    [cached] = (tmp_path / "pycache").rglob("*.jinja")  # beside Python's bytecode, under the prefix

    again = _environment(templates, trim_blocks=True)
    _uncompilable(again, monkeypatch)
    assert again.get_template("page.j2").render(xs=[1, 2]) == "1;\n2;\n"

    # Other options make other code: not the cached one (the newlines after the tags stay).
    assert _environment(templates, trim_blocks=False).get_template("page.j2").render(xs=[1]) == "\n1;\n"
    # An edited template is compiled from its new source.
    (templates / "page.j2").write_text("{% for x in xs %}\n{{ x }}!\n{% endfor %}\n")
    assert _environment(templates, trim_blocks=True).get_template("page.j2").render(xs=[1]) == "1!\n"


def test_nothing_is_cached_where_python_writes_no_bytecode(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    (tmp_path / "page.j2").write_text("{{ 1 + 1 }}")
    assert _environment(tmp_path).get_template("page.j2").render() == "2"
    assert not (tmp_path / "pycache").exists()


def test_compile_check_passes_with_the_templates_cached(bundled_repo, tmp_path):
    """The lineage pages and model cards rendered from cached template code are the same bytes:
    the second check (templates from the cache) passes like the first (compiled, then cached)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    for run in ("compiles the templates", "reads them from the cache"):
        shutil.rmtree(bundled_repo / ".mlopsc", ignore_errors=True)  # never the fingerprint's answer
        proc = subprocess.run([sys.executable, "-m", "compiler", "-C", str(bundled_repo), "compile", "--check"],
                              capture_output=True, text=True, env=env, cwd=bundled_repo)
        assert proc.returncode == 0, (run, proc.stdout, proc.stderr)
        assert len(list((tmp_path / "pycache").rglob("*.jinja"))) == 3, run
