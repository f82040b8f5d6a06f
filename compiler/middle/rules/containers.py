"""What runs in a container: env, resources, timeouts, argument placeholders, the schedule."""

from __future__ import annotations

import re

from ... import codes
from ...frontend.loader import did_you_mean
from ...frontend.models import SecretRef
from ..credentials import looks_like_credential, named_like_credential
from ..cron import cron_problem
from ..durations import TIMEOUT, timeout_seconds
from ..quantity import MAX_CPU, MAX_VALUE, QuantityError, parse_quantity, suggest_quantity
from . import RuleContext, containers_in, resources_in, rule, tasks

MAX_TIMEOUT_SECONDS = 2**31 - 1
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
PLACEHOLDER_KINDS = ("inputs", "outputs", "params")



@rule
def credential_literals(ctx: RuleContext):
    for project in ctx.repo.projects:
        for path, item in containers_in(project):
            for key, value in item.env.items():
                if isinstance(value, SecretRef):
                    continue
                if named_like_credential(key):
                    why = "looks like a credential but has a literal value"
                elif isinstance(value, str) and looks_like_credential(value):
                    why = "has a value that looks like a credential"
                else:
                    continue
                yield codes.CREDENTIAL_LITERAL.at(
                    project.doc.position(path + ("env", key)),
                    f"env `{key}` {why}; secrets never go into Git: reference a Secret instead, "
                    f"`{key}: {{secret: <name>, key: <key>}}`")


@rule
def quantities(ctx: RuleContext):
    for project in ctx.repo.projects:
        for path, res in resources_in(project):
            for field in ("cpu", "memory"):
                value = getattr(res, field)
                if value is None:
                    continue
                try:
                    # CPU is read in milli-units by the scheduler, so its bound is a thousand times lower.
                    if parse_quantity(value, MAX_CPU if field == "cpu" else MAX_VALUE) <= 0:
                        raise QuantityError("must be greater than zero")
                except QuantityError as exc:
                    meant = suggest_quantity(value)
                    hint = f": did you mean `{meant}`?" if meant else ""
                    yield codes.INVALID_QUANTITY.at(project.doc.position(path + (field,)),
                                                    f"{field} `{value}` is not a valid Kubernetes quantity ({exc}){hint}")
            if res.gpuType and not res.gpu:
                yield codes.GPU_TYPE_WITHOUT_GPU.at(project.doc.position(path + ("gpuType",)),
                                                    "gpuType is set but gpu is not: set `gpu: <count>`")


@rule
def timeouts(ctx: RuleContext):
    for project in ctx.repo.projects:
        for path, item in containers_in(project):
            timeout = getattr(item, "timeout", None)
            if timeout is not None and not TIMEOUT.match(timeout):
                yield codes.INVALID_DURATION.at(project.doc.position(path + ("timeout",)),
                                                f"timeout `{timeout}` is not a duration like `90s`, `30m`, `4h` or `1h30m`")
            elif timeout is not None and timeout_seconds(timeout) > MAX_TIMEOUT_SECONDS:
                # It becomes the pod's activeDeadlineSeconds (an int64 the API server bounds).
                yield codes.INT32_RANGE.at(project.doc.position(path + ("timeout",)),
                                           f"timeout `{timeout}` is {timeout_seconds(timeout)} seconds, more than the "
                                           f"{MAX_TIMEOUT_SECONDS} the API server allows for a pod's "
                                           f"activeDeadlineSeconds")
            elif timeout is not None and timeout_seconds(timeout) == 0:
                yield codes.INVALID_DURATION.at(project.doc.position(path + ("timeout",)),
                                                f"timeout `{timeout}` is zero: a pod's activeDeadlineSeconds is "
                                                f"at least 1 (remove the timeout for none)")


@rule
def placeholders(ctx: RuleContext):
    for project in ctx.repo.projects:
        for task in tasks(project):
            item, evaluation = task.item, task.is_evaluation
            declared = {
                "inputs": set(item.inputs) | ({"model"} if evaluation else set()),
                "outputs": set(item.metrics) if evaluation else set(item.outputs),
                "params": set(item.params),
            }
            for i, arg in enumerate(item.args or []):
                for m in PLACEHOLDER.finditer(arg):
                    kind, dot, ref = m[1].partition(".")
                    if kind not in PLACEHOLDER_KINDS or not dot:
                        problem = (f"`{m[0]}` is not a placeholder: use `${{inputs.<name>}}`, "
                                   f"`${{outputs.<name>}}` or `${{params.<name>}}`")
                    elif ref not in declared[kind]:
                        if project.is_broken(task.path + (kind,)):
                            continue  # the task has an unknown field (`ouputs`?), reported as S001
                        known = ", ".join(sorted(declared[kind])) or "none"
                        problem = (f"`{m[0]}`: {task.what} declares no {kind[:-1]} `{ref}` "
                                   f"({kind}: {known}){did_you_mean(ref, declared[kind])}")
                    else:
                        continue
                    yield codes.UNKNOWN_PLACEHOLDER.at(project.doc.position(task.path + ("args", i)),
                                                       problem)


@rule
def schedule(ctx: RuleContext):
    for project in ctx.repo.projects:
        expr = project.model.spec.schedule
        if expr is not None:
            problem = cron_problem(expr)
            if problem:
                yield codes.INVALID_CRON.at(project.doc.position(("spec", "schedule")),
                                            f"schedule `{expr}` {problem}")
