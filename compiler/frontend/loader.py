"""Front end: find the spec files, read them with positions and validate them into models.

Everything after this stage works on `LoadedRepository`; nothing after it reads spec files.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import hashlib
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import codes
from ..diagnostics import Diagnostic, Position
from ..files import MAX_SPEC_BYTES, UnsafeFile, lstat_inside, read_inside, safe_relative, walk_inside
from .history import PromotionHistory, read_history
from .evidence import EvidenceFile, load_evidence
from .models import API_VERSION, MLProject, Repository
from .yaml_source import SourceDocument, load_yaml


@dataclass
class LoadedProject:
    doc: SourceDocument
    model: MLProject
    # Data paths of mappings that hold an unknown field (a typo such as `ouputs`): the model was
    # validated without that field, so what it defines is unknown, and references into these
    # mappings are not reported again (one typo, one error).
    broken: frozenset[tuple] = frozenset()
    # sha256 of the spec file's bytes: what the incremental compile keys this project's units by.
    source_sha256: str = ""

    def is_broken(self, path: tuple) -> bool:
        """Whether `path`, or a mapping holding it, has an unknown field."""
        # Asked for every reference the graph resolves; almost every project has no typo.
        return bool(self.broken) and any(path[:len(b)] == b for b in self.broken)

    @property
    def path(self) -> str:
        return self.doc.path

    @functools.cached_property  # asked 60,000 times per check at 1,000 projects; models are not edited
    def key(self) -> str:
        return self.model.key

    @functools.cached_property  # asked for each release and reference; the path never changes
    def path_key(self) -> str:
        """`<team>/<project>` as the file's place says it (specs/<team>/<project>.yaml): what the
        rest of the repository calls it when its metadata has a typo (N003/N006 report that)."""
        parts = PurePosixPath(self.path).parts
        return f"{parts[-2]}/{PurePosixPath(parts[-1]).stem}" if len(parts) >= 2 else self.key


@dataclass
class LoadedRepository:
    root: Path
    config: Repository
    config_doc: SourceDocument | None
    # False when mlopsc.yaml has errors and the defaults stand in for it (its errors are reported).
    config_valid: bool = True
    # The specs directory relative to the root (`--specs`): spec paths are specs_dir/<team>/<name>.yaml.
    specs_dir: str = "specs"
    # The output directory relative to the root (`--out`): Argo CD Applications name paths in it.
    out_dir: str = "generated"
    projects: list[LoadedProject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Spec files that failed to load, and the project keys they probably define: references to
    # those projects are not reported again (the file's own errors are the root cause).
    broken_files: list[str] = field(default_factory=list)
    broken_keys: set[str] = field(default_factory=set)
    # Every evidence file a release or canary names, keyed by the path as written in the spec.
    evidence: dict[str, EvidenceFile] = field(default_factory=dict)
    # What earlier compiles recorded as pinned (generated/promotion/history.json), if trusted.
    promotion_history: PromotionHistory = field(default_factory=lambda: PromotionHistory(""))


class UsageError(Exception):
    """Bad command-line usage (exit 2): e.g. `--specs ../elsewhere`, a path that is not a
    repository-relative path. What the repository holds is never usage: that is a diagnostic."""


@dataclass
class SpecFiles:
    """What the specs directory holds: the spec files to read, and what was refused on the way."""

    files: list[str] = field(default_factory=list)  # repository-relative POSIX paths, sorted
    refused: list[str] = field(default_factory=list)  # symlinks, FIFOs, devices: never followed
    problem: str | None = None  # why the specs directory itself cannot be listed


def _relative_option(text: str, option: str) -> str:
    try:
        return safe_relative(PurePosixPath(text).as_posix())
    except UnsafeFile as exc:
        raise UsageError(f"{option} {exc.path}: {exc.reason}") from None


def find_spec_files(root: Path, specs_dir: str) -> SpecFiles:
    """Every *.yaml/*.yml regular file under the specs directory, found without following a
    symlink (compiler.files.walk_inside); entries that are not regular files are refused."""
    specs_dir = _relative_option(specs_dir, "--specs")
    try:
        files, refused = walk_inside(root, specs_dir)
    except UnsafeFile as exc:
        reason = "does not exist" if exc.reason == "does not exist" else \
            "is a symlink or not a directory" if "symlink" in exc.reason or "not a directory" in exc.reason \
            else exc.reason
        return SpecFiles(problem=f"specs directory {specs_dir!r} {reason}")
    except OSError as exc:  # e.g. a directory below it that cannot be listed
        return SpecFiles(problem=f"specs directory {specs_dir!r} cannot be read ({exc.strerror or exc})")
    # Sorted by POSIX path (walk_inside sorts), so the order never depends on the file system.
    return SpecFiles([f for f in files if f.endswith((".yaml", ".yml"))], refused)


def discover_spec_files(root: Path, specs_dir: str) -> list[Path]:
    """The spec files as paths (for callers that hash them); none when the directory is unusable."""
    return [root / rel for rel in find_spec_files(root, specs_dir).files]


def load_repository(root: Path, specs_dir: str = "specs", config_file: str = "mlopsc.yaml",
                    only_files: set[str] | None = None, out_dir: str = "generated",
                    overlay: dict[str, bytes] | None = None, yaml_cache=None) -> LoadedRepository:
    """`overlay` (repository-relative path → bytes) stands in for files on disk: an editor's
    unsaved buffers, checked in the whole repository's context (`mlopsc lsp`). `yaml_cache`
    (compiler/output/state.py's) holds what earlier compiles parsed, by the bytes' sha256."""
    with _collector_paused():
        return _load_repository(root, specs_dir, config_file, only_files, out_dir, overlay, yaml_cache)


@contextlib.contextmanager
def _collector_paused():
    """Loading only adds: a tree of plain data and models per spec, while libyaml's nodes are
    freed as each file is done, by reference counting (hardly anything here forms a reference
    cycle; what does, a recursive alias, waits for the collector's next run). CPython's cyclic
    collector would meanwhile scan the whole growing heap each time it grows by a quarter: seven
    full scans, 0.35 s at 1,000 projects, that free nothing. Paused, it scans what loading kept
    once, afterwards (a cold `compile --check` of 1,000 projects spends 0.4 s less CPU). It is
    left as it was found: a caller may have paused it itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load_repository(root: Path, specs_dir: str, config_file: str, only_files: set[str] | None,
                     out_dir: str, overlay: dict[str, bytes] | None, yaml_cache) -> LoadedRepository:
    overlay = overlay or {}
    diagnostics: list[Diagnostic] = []
    overlay = overlay or {}
    specs_dir = _relative_option(specs_dir, "--specs")
    out_dir = PurePosixPath(out_dir).as_posix()  # the output stage decides where it may write
    config_file = _relative_option(config_file, "--config")
    config, config_doc, config_valid = _load_config(root, config_file, diagnostics, overlay.get(config_file))
    repo = LoadedRepository(root=root, config=config, config_doc=config_doc, config_valid=config_valid,
                            diagnostics=diagnostics, specs_dir=specs_dir, out_dir=out_dir)
    found = find_spec_files(root, specs_dir)
    unsaved = sorted(rel for rel in overlay if rel.startswith(specs_dir + "/") and rel.endswith((".yaml", ".yml"))
                     and rel not in found.files)
    if found.problem is not None and not unsaved:
        diagnostics.append(codes.NO_SPECS_DIRECTORY.at(
            Position(specs_dir), f"{found.problem}: project specs live at {specs_dir}/<team>/<project>.yaml "
                                 f"(`mlopsc new <team>/<project>` writes the first spec; `mlopsc init` starts a "
                                 f"repository; or name another directory with --specs)"))
    for rel in found.refused:
        diagnostics.append(codes.UNSAFE_FILE.at(Position(rel), f"{rel} is {_kind(root, rel)}; mlopsc reads "
                                                               f"only regular files inside the repository and "
                                                               f"never follows a symlink: replace it with the "
                                                               f"file itself, or remove it"))
    for rel in sorted([*found.files, *unsaved]):
        if only_files is not None and rel not in only_files:
            continue
        if rel in overlay:
            raw = overlay[rel]
        else:
            try:
                raw = read_inside(root, rel, MAX_SPEC_BYTES)
            except UnsafeFile as exc:
                diagnostics.append(_unsafe(exc, rel))
                repo.broken_files.append(rel)
                repo.broken_keys.update(_probable_keys(rel, SourceDocument(rel)))
                continue
        project, doc = _load_project(rel, raw, diagnostics, yaml_cache)
        if project is None:
            repo.broken_files.append(rel)
            repo.broken_keys.update(_probable_keys(rel, doc))
        else:
            repo.projects.append(project)
    for project in repo.projects:
        for path in release_evidence_paths(project):
            if path not in repo.evidence:
                repo.evidence[path] = load_evidence(root, path)
    repo.promotion_history = read_history(root, out_dir)
    return repo


def _kind(root: Path, rel: str) -> str:
    try:
        st = lstat_inside(root, rel)
    except UnsafeFile:  # a name with control characters: not looked at any closer
        st = None
    if st is None:
        return "not a regular file"
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket, not a regular file"
    return "a device, not a regular file"


def _unsafe(exc: UnsafeFile, rel: str) -> Diagnostic:
    """A file mlopsc refused to read, as a diagnostic that names it and why, never its content."""
    if exc.reason.startswith("is larger than"):
        return codes.FILE_TOO_LARGE.at(Position(rel), f"{rel} {exc.reason}; a spec or settings file is a "
                                                      f"few KB (is it the file you meant?)")
    return codes.UNSAFE_FILE.at(Position(rel), f"{exc.path} {exc.reason}" + (
        "" if "regular file" in exc.reason else "; mlopsc reads only regular files inside the repository"))


def release_evidence_paths(project: LoadedProject) -> list[str]:
    paths = []
    for target in project.model.spec.serving.values():
        for se in target.environments.values():
            if se.release is not None:
                paths.append(se.release.evidence)
            if se.canary is not None:
                paths.append(se.canary.release.evidence)
    return paths


def load_project_bytes(rel_path: str, raw: bytes) -> tuple[LoadedProject | None, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    return _load_project(rel_path, raw, diagnostics)[0], diagnostics


def _probable_keys(rel: str, doc: SourceDocument) -> set[str]:
    parts = rel.split("/")
    keys = {f"{parts[-2]}/{parts[-1].rsplit('.', 1)[0]}"} if len(parts) >= 2 else set()
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("team"), str) and isinstance(meta.get("name"), str):
        keys.add(f"{meta['team']}/{meta['name']}")
    return keys


def _load_config(root: Path, config_file: str, out: list[Diagnostic], raw: bytes | None = None):
    """The settings, their document, and whether they are the file's own (False: the file has
    errors and the defaults stand in, so rules about missing settings must stay quiet).
    `raw` stands in for the file (an editor's unsaved buffer)."""
    if raw is None:
        try:
            raw = read_inside(root, config_file, MAX_SPEC_BYTES)
        except UnsafeFile as exc:
            if exc.reason == "does not exist":
                return Repository(), None, True  # documented defaults
            out.append(_unsafe(exc, config_file))
            return Repository(), None, False
    doc, diags = load_yaml(raw, config_file)
    out.extend(diags)
    if diags:
        return Repository(), doc, False
    model = validate_document(doc, Repository, "Repository", out)
    return (model or Repository()), doc, model is not None


def _load_project(rel: str, raw: bytes, out: list[Diagnostic],
                  yaml_cache=None) -> tuple[LoadedProject | None, SourceDocument]:
    digest = hashlib.sha256(raw).hexdigest()
    parsed = yaml_cache.get(digest) if yaml_cache is not None else None
    if parsed is not None:  # the same bytes parsed before, without a diagnostic
        doc = SourceDocument(rel, *parsed)
    else:
        doc, diags = load_yaml(raw, rel)
        out.extend(diags)
        if any(d.is_error for d in diags):
            return None, doc
        if yaml_cache is not None and not diags:
            yaml_cache.put(digest, (doc.data, doc.key_positions, doc.value_positions))
    broken: set[tuple] = set()
    model = validate_document(doc, MLProject, "MLProject", out, broken)
    return (LoadedProject(doc, model, frozenset(broken), digest) if model is not None else None), doc


def validate_document(doc: SourceDocument, model_cls: type[BaseModel], kind: str,
                      out: list[Diagnostic], broken: set[tuple] | None = None) -> Any:
    data = doc.data
    if not isinstance(data, dict):
        what = "empty" if data is None else "a list" if isinstance(data, list) else f"just {_show(data)}"
        out.append(codes.WRONG_KIND.at(doc.position(()), f"expected a mapping with apiVersion: {API_VERSION} "
                                                         f"and kind: {kind}, but the document is {what}"))
        return None
    for key, expected in (("apiVersion", API_VERSION), ("kind", kind)):
        if data.get(key) != expected:
            where = doc.position((key,)) if key in data else doc.position(())
            found = f"found {data[key]!r}" if key in data else "it is missing"
            out.append(codes.WRONG_KIND.at(where, f"{key} must be {expected!r}, {found}"))
            return None
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        out.extend(_translate_errors(exc, doc, model_cls))
        unknown = [e["loc"] for e in exc.errors(include_url=False) if e["type"] == "extra_forbidden"]
        if len(unknown) < len(exc.errors()):
            return None
    # Only unknown fields (typos, mostly): without them the document is valid, so the rules can
    # still check the rest of it and every error of the file shows up in one run. The errors
    # above keep compile from writing anything.
    stripped = [_data_path(data, loc, True) for loc in unknown]
    if broken is not None:
        broken.update(path[:-1] for path in stripped)
    try:
        return model_cls.model_validate(_without(data, stripped))
    except ValidationError:  # pragma: no cover - removing fields pydantic rejected leaves a valid document
        return None


def _without(data: Any, paths: list[tuple]) -> Any:
    """A copy of `data` without the values at `paths` (copying only what changes)."""
    if not paths:
        return data
    if () in paths:  # pragma: no cover - the document itself is never an unknown field
        return None
    heads: dict[Any, list[tuple]] = {}
    for path in paths:
        heads.setdefault(path[0], []).append(path[1:])
    if isinstance(data, dict):
        return {k: _without(v, heads.get(k, [])) for k, v in data.items() if () not in heads.get(k, [])}
    if isinstance(data, list):
        return [_without(v, heads.get(i, [])) for i, v in enumerate(data) if () not in heads.get(i, [])]
    return data


def _translate_errors(exc: ValidationError, doc: SourceDocument, model_cls: type[BaseModel]) -> list[Diagnostic]:
    """Pydantic errors → positioned diagnostics, one per place, in the spec's words."""
    by_place: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        data_path = _data_path(doc.data, err["loc"], err["type"] in ("extra_forbidden", "missing"))
        by_place.setdefault((err["type"] in ("extra_forbidden", "missing"), data_path), []).append(err)
    # A union (an env value: a {secret, key} mapping or a literal) fails once per member. When the
    # value has the shape of one member and fails inside it, only those inner errors matter.
    deeper = {path[:i] for (_, path) in by_place for i in range(len(path))}
    result = []
    for (structural, data_path), errors in by_place.items():
        first = errors[0]
        if not structural and data_path in deeper and all(e["type"] in _TYPE_WORDS for e in errors):
            continue
        if first["type"] == "extra_forbidden":
            allowed = sorted(_fields_at(model_cls, data_path[:-1]))
            hint = did_you_mean(str(data_path[-1]), allowed)
            if not hint and allowed:
                hint = f" (fields here: {', '.join(allowed)})"
            message = f"unknown field `{data_path[-1]}` in {_describe(data_path[:-1])}{hint}"
            result.append(codes.UNKNOWN_FIELD.at(doc.key_position(data_path), message))
        elif first["type"] == "missing":
            missing = data_path[-1]
            if _misspelt_beside(missing, data_path[:-1], by_place):
                continue  # `metircs:` is there: its S001 says "did you mean `metrics`?"
            message = f"missing required field `{missing}` in {_describe(data_path[:-1])}"
            result.append(codes.MISSING_FIELD.at(doc.key_position(data_path[:-1]) if data_path[:-1]
                                                 else doc.position(()), message))
        else:
            value = _value_at(doc.data, data_path)
            result.append(codes.WRONG_TYPE.at(doc.position(data_path),
                                              _wrong_value(_describe(data_path), value, errors)))
    return result


def _misspelt_beside(missing: Any, parent: tuple, by_place: dict) -> bool:
    """Whether an unknown field next to a missing one is its misspelling (one typo, one error)."""
    siblings = [str(path[-1]) for (structural, path), errors in by_place.items()
                if structural and path[:-1] == parent and errors[0]["type"] == "extra_forbidden"]
    return bool(difflib.get_close_matches(str(missing), siblings, n=1, cutoff=0.6))


# Pydantic's type errors, as what the spec expected instead.
_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "none_required": "null", "literal_error": "",
}


def _wrong_value(where: str, value: Any, errors: list[dict]) -> str:
    expected: list[str] = []
    for err in errors:
        if err["type"] == "literal_error":
            options = _literal_options(err)
            expected.append("one of " + ", ".join(f"`{o}`" for o in options))
        elif err["type"] in _TYPE_WORDS:
            expected.append(_TYPE_WORDS[err["type"]])
    if "a number" in expected and "an integer" in expected:
        expected.remove("an integer")  # a number covers it
    if expected:
        wanted = sorted(set(expected), key=expected.index)
        message = f"{where} must be {' or '.join(wanted)}; got {_show(value)}"
    else:  # a constraint on a value of the right type (a range, a minimum length)
        message = f"{where}: {'; '.join(sorted({_reason(e) for e in errors}))}; got {_show(value)}"
    literal = next((e for e in errors if e["type"] == "literal_error"), None)
    if literal is not None and isinstance(value, str):
        message += did_you_mean(value, _literal_options(literal))
    return message


def _literal_options(err: dict) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(", ") if o.strip()]


def _reason(err: dict) -> str:
    msg = err["msg"]
    msg = msg.replace("Input should", "should").replace("after validation, ", "")
    return msg[0].lower() + msg[1:] if msg else err["type"]


def _data_path(data: Any, loc: tuple, structural: bool) -> tuple:
    """Keep the loc elements that index into the data (drop union-member tags); for a missing or
    unknown field (`structural`), the field's name ends the path."""
    path: list = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif structural and i == len(loc) - 1 and isinstance(part, str):
            path.append(part)  # the missing or unknown key itself
    return tuple(path)


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _fields_at(model_cls: Any, path: tuple) -> set[str]:
    """The field names allowed at `path`, found by walking the model classes."""
    ann: Any = model_cls
    for part in path:
        ann = _descend(ann, part)
        if ann is None:
            return set()
    model = _as_model(ann)
    return set(model.model_fields) if model else set()


def _descend(ann: Any, part: Any) -> Any:
    model = _as_model(ann)
    if model is not None:
        f = model.model_fields.get(part)
        return f.annotation if f else None
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _as_model(ann: Any) -> type[BaseModel] | None:
    """The model class of an annotation: the class itself, or the model member of a union."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) not in (typing.Union, types.UnionType):
        return None
    for arg in typing.get_args(ann):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _describe(path: tuple) -> str:
    if not path:
        return "the document"
    return "`" + ".".join(str(p) for p in path) + "`"


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML (`null`, `true`), not as Python shows it."""
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, options) -> str:
    """' (did you mean `x`?)' or ''; shared with the rules. Close spellings first, then the one
    option that starts with what was written (`prod` for `production`)."""
    names = sorted(str(o) for o in options)
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [o for o in names if o.lower().startswith(word.lower())]
    return f" (did you mean `{close[0]}`?)" if len(close) == 1 else ""
