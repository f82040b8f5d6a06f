"""References between things in specs, and the node ids of the lineage graph.

A reference is `sources.<s>` or `steps.<st>.outputs.<o>`, optionally prefixed with
`<team>/<project>:` to reach into another project. Node ids always carry the project:
`<team>/<project>:<ref>`, which keeps them stable and unique across the whole repository.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_REF_RE = re.compile(
    r"^(?:(?P<team>[^/:\s]+)/(?P<project>[^/:\s]+):)?"
    r"(?:sources\.(?P<source>[^.\s]+)|steps\.(?P<step>[^.\s]+)\.outputs\.(?P<output>[^.\s]+))\Z"
)


@dataclass(frozen=True)
class Ref:
    project: str | None  # "team/project" for a cross-project reference, else None
    source: str | None = None
    step: str | None = None
    output: str | None = None

    @property
    def local(self) -> str:
        return f"sources.{self.source}" if self.source else f"steps.{self.step}.outputs.{self.output}"

    def in_project(self, home: str) -> str:
        """The project key this reference points into."""
        return self.project or home

    def node_id(self, home: str) -> str:
        return node_id(self.in_project(home), self.local)


def parse_ref(text: object) -> Ref | None:
    if not isinstance(text, str):
        return None
    return _parse_ref_text(text)


@functools.lru_cache(maxsize=1 << 16)
def _parse_ref_text(text: str) -> Ref | None:
    # The graph and several rules parse each of a repository's references (15,000 parses at
    # 1,000 projects); a Ref is immutable, so the same text can share one.
    m = _REF_RE.match(text.strip())
    if not m:
        return None
    project = f"{m['team']}/{m['project']}" if m["team"] else None
    return Ref(project, m["source"], m["step"], m["output"])


# Near misses people write, and the reference they meant.
_REPAIRS = [
    (re.compile(r"^([^/:\s]+/[^/:.\s]+)\.(?=(sources|steps)\.)"), r"\1:"),  # team/project.steps… → team/project:steps…
    (re.compile(r"(^|:)source\."), r"\1sources."),
    (re.compile(r"(^|:)step\."), r"\1steps."),
    (re.compile(r"\.output\."), ".outputs."),
    (re.compile(r"((?:^|:)steps\.[^.\s]+)\.(?!outputs\.)([^.\s]+)\Z"), r"\1.outputs.\2"),  # steps.s.o
]


def suggest_reference(text: object) -> str | None:
    """The well-formed reference a malformed one most likely meant, if any."""
    if not isinstance(text, str):
        return None
    fixed = text.strip()
    for pattern, replacement in _REPAIRS:
        fixed = pattern.sub(replacement, fixed)
    return fixed if fixed != text and parse_ref(fixed) is not None else None


def node_id(project: str, local: str) -> str:
    return f"{project}:{local}"


def split_node_id(nid: str) -> tuple[str, str]:
    project, _, local = nid.partition(":")
    return project, local


def source_id(p: str, name: str) -> str:
    return node_id(p, f"sources.{name}")


def step_id(p: str, name: str) -> str:
    return node_id(p, f"steps.{name}")


def artifact_id(p: str, step: str, output: str) -> str:
    return node_id(p, f"steps.{step}.outputs.{output}")


def evaluation_id(p: str, name: str) -> str:
    return node_id(p, f"evaluations.{name}")


def serving_id(p: str, name: str) -> str:
    return node_id(p, f"serving.{name}")


def release_id(p: str, serving: str, env: str, canary: bool = False) -> str:
    return node_id(p, f"serving.{serving}.environments.{env}" + (".canary" if canary else ""))


def container_part_id(p: str, section: str, name: str, part: str) -> str:
    """Code and image nodes of a step (`steps`) or evaluation (`evaluations`)."""
    return node_id(p, f"{section}.{name}.{part}")


def gate_id(p: str, evaluation: str, index: int) -> str:
    return node_id(p, f"evaluations.{evaluation}.gates.{index}")


def monitor_id(p: str, serving: str) -> str:
    """The continuous evaluation of a serving target (its `<…>-monitor` pipeline)."""
    return node_id(p, f"serving.{serving}.monitor")
