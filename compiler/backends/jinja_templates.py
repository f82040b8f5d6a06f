"""The back ends' Jinja2 templates, compiled once per installation instead of once per process.

Compiling the lineage pages' and the model card's templates (Jinja's parser and code generator,
then Python's compiler) cost about 40 ms of every `mlopsc compile`, more than rendering them.
Jinja2 can keep the compiled code in a bytecode cache; this one keeps it where Python keeps the
bytecode of a module in the templates' directory (`__pycache__/`, or under PYTHONPYCACHEPREFIX)
and writes it only when Python would write its own (never under PYTHONDONTWRITEBYTECODE): the
same place, trust and lifetime as a `.pyc`. A cached template is used only for the same source,
the same Jinja2 and Python versions and the same environment options (which change the code);
anything else, or a cache that cannot be read or written, compiles from source as before.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.bccache import Bucket, BytecodeCache


class PycacheBytecode(BytecodeCache):
    """Jinja2 bytecode of the templates in `directory`, beside Python's bytecode for it."""

    def __init__(self, directory: Path, options: str) -> None:
        self.cache_dir = Path(importlib.util.cache_from_source(str(directory / "_.py"))).parent
        self.options = options

    def get_source_checksum(self, source: str) -> str:
        # Jinja checks this against the cached file's; its magic already names Python's version.
        return hashlib.sha256(f"{jinja2.__version__}\0{self.options}\0{source}".encode()).hexdigest()

    def path(self, bucket: Bucket) -> Path:
        return self.cache_dir / f"{bucket.key}.{sys.implementation.cache_tag}.jinja"

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            with open(self.path(bucket), "rb") as f:
                bucket.load_bytecode(f)  # leaves the bucket empty unless the checksum matches
        except OSError:
            pass

    def dump_bytecode(self, bucket: Bucket) -> None:
        if sys.dont_write_bytecode:
            return
        path = self.path(bucket)
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed, as Python writes a .pyc: a parallel compile never reads half.
            with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=path.name, suffix=".tmp",
                                             delete=False) as f:
                temporary = f.name
                bucket.write_bytecode(f)
            os.replace(temporary, path)
        except OSError:  # a read-only installation: compile again next time, as Python does
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass


def environment(package: str, directory: str, **options: Any) -> jinja2.Environment:
    """A Jinja2 environment loading `package`'s templates under `directory`, with their compiled
    code cached as above (options are jinja2.Environment's)."""
    path = Path(str(resources.files(package).joinpath(directory)))
    return jinja2.Environment(loader=jinja2.PackageLoader(package, directory),
                              bytecode_cache=PycacheBytecode(path, repr(sorted(options.items()))),
                              **options)
