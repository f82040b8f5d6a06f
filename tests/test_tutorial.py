"""docs/TUTORIAL.md runs as written: every ```sh block, in order, in one shell on a copy of this
repository (a Git repository, as a clone is), with the YAML edits it asks for applied where it
marks them (`<!-- tutorial: set FILE#POINTER -->` before a ```yaml block)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, copy_repo

TUTORIAL = REPO / "docs" / "TUTORIAL.md"
BLOCK = re.compile(r"(?:<!-- tutorial: set (?P<key>\S+) -->\n)?```(?P<lang>sh|yaml)\n(?P<body>.*?)```", re.S)


def tutorial_script(root: Path) -> str:
    """The tutorial as one bash script: its shell blocks, and its edits as Python calls."""
    lines = ["set -euo pipefail"]
    for match in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8")):
        if match["lang"] == "sh":
            lines.append(match["body"])
        elif match["key"]:
            value, last = yaml.safe_load(match["body"]), match["key"].rsplit("/", 1)[-1]
            if isinstance(value, dict) and list(value) == [last]:  # the block shows `release:` itself
                value = value[last]
            edit = json.dumps({match["key"]: value})
            lines.append(f"{sys.executable} -c 'import json, sys; from pathlib import Path; "
                         f"from compiler.explain import apply_edits; "
                         f"apply_edits(Path(sys.argv[1]), json.loads(sys.argv[2]))' {root} '{edit}'")
    return "\n".join(lines) + "\n"


def test_every_command_of_the_tutorial_runs_and_ends_with_a_model_in_production(tmp_path):
    root = copy_repo(REPO, tmp_path / "platform", with_generated=True)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "GIT_AUTHOR_NAME": "nlp", "GIT_AUTHOR_EMAIL": "nlp@example.com",
           "GIT_COMMITTER_NAME": "nlp", "GIT_COMMITTER_EMAIL": "nlp@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    script = tutorial_script(root)
    assert script.count("mlopsc ") >= 12 and "apply_edits" in script, script  # the blocks were found
    result = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "mlopsc: wrote specs/nlp/ticket-router.yaml and declared team `nlp` in mlopsc.yaml" in out
    assert "5 project(s), 0 error(s), 0 warning(s)" in out
    assert "W004" not in out and "error[" not in out
    spec = yaml.safe_load((root / "specs/nlp/ticket-router.yaml").read_text())
    environments = spec["spec"]["serving"]["ticket-router"]["environments"]
    assert environments["production"]["release"] == environments["staging"]["release"]
    served = root / "generated/deploy/serving/production/nlp/ticket-router/inferenceservice-ticket-router.yaml"
    assert "sha256:5d41402abc4b2a76b9719d911017c592e2b6c1a4c7b0e7b7a26d6c7f2d0c2f11" in served.read_text()
    clean = subprocess.run(["git", "status", "--porcelain"], cwd=root, env=env, capture_output=True, text=True)
    assert clean.stdout == ""  # everything the tutorial made is committed
