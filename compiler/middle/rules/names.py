"""Names, teams, environments and where spec files live."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ... import codes
from ...frontend.loader import did_you_mean
from ..k8s_names import dns1123_label_message, is_dns1123_label
from . import RuleContext, rule, tasks

# Task interface names (metrics included) end up as `--<name>` flags, KFP input/output keys inside
# quoted placeholders, and the left side of a gate.
IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}\Z")
SECTIONS = ("sources", "steps", "evaluations", "serving")


@rule
def dns_names(ctx: RuleContext):
    for project in ctx.repo.projects:
        meta = project.model.metadata
        for field in ("name", "team"):
            value = getattr(meta, field)
            if not is_dns1123_label(value):
                yield codes.NOT_DNS1123.at(project.doc.position(("metadata", field)),
                                           dns1123_label_message(f"metadata.{field}", value))
        spec = project.model.spec
        for section in SECTIONS:
            for name in getattr(spec, section):
                if not is_dns1123_label(name):
                    yield codes.NOT_DNS1123.at(project.doc.key_position(("spec", section, name)),
                                               dns1123_label_message(f"{section} name", name))
    doc = ctx.repo.config_doc
    if doc is not None:
        for section in ("environments", "teams"):
            for name in getattr(ctx.config, section) or {}:
                if not is_dns1123_label(name):
                    yield codes.NOT_DNS1123.at(doc.key_position((section, name)),
                                               dns1123_label_message(section[:-1] + " name", name))


@rule
def duplicate_names(ctx: RuleContext):
    seen: dict[str, str] = {}
    for project in ctx.repo.projects:  # sorted by path, so the first file wins
        if project.key in seen:
            yield codes.DUPLICATE_NAME.at(
                project.doc.position(("metadata", "name")),
                f"project `{project.key}` is already defined in {seen[project.key]}")
        else:
            seen[project.key] = project.path
        spec = project.model.spec
        # Steps and evaluations both become pipeline tasks, so they share one namespace.
        for name in sorted(set(spec.steps) & set(spec.evaluations)):
            yield codes.DUPLICATE_NAME.at(
                project.doc.key_position(("spec", "evaluations", name)),
                f"`{name}` names both a step and an evaluation; pipeline task names must be unique")
        yield from _task_interface_names(project)


def _interface(task):
    """(group, index, name) of a task's inputs, outputs (an evaluation's metrics) and params."""
    item = task.item
    groups = [("inputs", list(item.inputs)),
              ("metrics", list(item.metrics)) if task.is_evaluation else ("outputs", list(item.outputs)),
              ("params", list(item.params))]
    for group, names in groups:
        for index, entry in enumerate(names):
            yield group, index, entry


def _interface_position(project, task, group: str, index: int, entry):
    # Metrics are a list (point at the item); the other groups are mappings (point at the key).
    if group == "metrics":
        return project.doc.position(task.path + (group, index))
    return project.doc.key_position(task.path + (group, entry))


@rule
def interface_names(ctx: RuleContext):
    for project in ctx.repo.projects:
        for task in tasks(project):
            for group, index, entry in _interface(task):
                if IO_NAME.match(str(entry)):
                    continue
                use = "a KFP output and a gate's term" if group == "metrics" else f"`--{entry}` and a KFP name"
                yield codes.INVALID_IO_NAME.at(
                    _interface_position(project, task, group, index, entry),
                    f"{group[:-1]} name `{entry}` must start with a letter or `_` and hold only letters, "
                    f"digits, `_` and `-` (at most 63): it becomes {use}")


def _task_interface_names(project):
    """A task's inputs, outputs, params (and an evaluation's model and metrics) share one namespace:
    they become the task's `--<name>` arguments and its KFP input and output names."""
    for task in tasks(project):
        seen: dict[str, str] = {"model": "model"} if task.is_evaluation else {}
        for group, index, entry in _interface(task):
            if entry not in seen:
                seen[entry] = group
                continue
            if seen[entry] == group:
                message = f"`{entry}` is listed twice in the metrics of {task.what}"
            else:
                first = "the evaluated model" if seen[entry] == "model" else f"`{seen[entry]}.{entry}`"
                message = (f"`{group}.{entry}` of {task.what} has the name of {first}: a task's inputs, "
                           f"outputs, params and metrics become its arguments and need distinct names")
            yield codes.DUPLICATE_NAME.at(_interface_position(project, task, group, index, entry), message)


@rule
def team_and_layout(ctx: RuleContext):
    teams = ctx.config.teams
    specs = PurePosixPath(ctx.repo.specs_dir)
    for project in ctx.repo.projects:
        path = PurePosixPath(project.path)
        parts = path.relative_to(specs).parts if path.is_relative_to(specs) else path.parts
        meta = project.model.metadata
        expected = f"{specs}/{meta.team}/{meta.name}.yaml"
        if len(parts) != 2:
            yield codes.MISPLACED_SPEC.at(project.doc.position(()),
                                          f"{project.path} is not at {specs}/<team>/<project>.yaml: "
                                          f"move it to {expected}")
        elif parts[0] != meta.team:
            yield codes.TEAM_FOLDER_MISMATCH.at(
                project.doc.position(("metadata", "team")),
                f"metadata.team is `{meta.team}` but the file is in {specs}/{parts[0]}/: move the file "
                f"to {specs}/{meta.team}/ or set team: {parts[0]}")
        elif path.stem != meta.name:
            # One name for the project everywhere: the file, the pipeline, the Argo CD objects.
            yield codes.MISPLACED_SPEC.at(project.doc.position(("metadata", "name")),
                                          f"project `{meta.name}` is defined in {path.name}: rename the "
                                          f"file to {path.parent}/{meta.name}.yaml or set name: {path.stem}")
        folder_team = parts[0] if len(parts) == 2 else None
        if teams is not None and meta.team not in teams and folder_team not in teams:  # else N003 says it
            known = ", ".join(sorted(teams)) or "none"
            yield codes.UNKNOWN_TEAM.at(project.doc.position(("metadata", "team")),
                                        f"team `{meta.team}` is not declared in mlopsc.yaml (teams: {known})"
                                        f"{did_you_mean(meta.team, teams)}; to declare it, add "
                                        f"`{meta.team}: {{}}` under `teams:` in mlopsc.yaml")


@rule
def environments(ctx: RuleContext):
    envs = ctx.config.environments
    doc = ctx.repo.config_doc
    if doc is not None:
        for name, env in envs.items():
            if env.promotesFrom is not None and env.promotesFrom not in envs:
                yield codes.UNKNOWN_ENVIRONMENT.at(
                    doc.position(("environments", name, "promotesFrom")),
                    f"environment `{name}` promotes from `{env.promotesFrom}`, which is not defined"
                    f"{did_you_mean(env.promotesFrom, envs)}")
    for project in ctx.repo.projects:
        for sname, target in project.model.spec.serving.items():
            for env in target.environments:
                if env not in envs:
                    yield codes.UNKNOWN_ENVIRONMENT.at(
                        project.doc.key_position(("spec", "serving", sname, "environments", env)),
                        f"environment `{env}` is not defined in mlopsc.yaml "
                        f"(environments: {', '.join(envs)}){did_you_mean(str(env), envs)}")
