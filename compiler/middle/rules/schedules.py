"""Schedules and the release image: what the schedule reconciler and the release task need."""

from __future__ import annotations

from ... import codes, layout
from ...diagnostics import Position
from ..cron import day_of_week_seven
from ..schedules import has_pipeline
from . import RuleContext, rule
from .pinning import image_policy

API_SCHEMES = ("http://", "https://")


def _config_position(ctx: RuleContext, path: tuple) -> Position:
    """Where a setting is in mlopsc.yaml (its nearest written ancestor), else mlopsc.yaml's line 1."""
    doc = ctx.repo.config_doc
    if doc is None:
        return Position("mlopsc.yaml", 1, 1)
    if isinstance(doc.data, dict) and path[0] in doc.data:
        return doc.key_position(path) if len(path) == 1 else doc.position(path)
    return Position(doc.path, 1, 1)


def _users(ctx: RuleContext) -> list[str]:
    """What runs the release image, in words: projects with serving targets or schedules."""
    found = []
    for project in ctx.repo.projects:
        spec = project.model.spec
        why = [w for w, used in (("serving targets", bool(spec.serving)),
                                 ("a schedule", spec.schedule is not None and has_pipeline(project))) if used]
        if why:
            found.append(f"{project.key} ({' and '.join(why)})")
    return found


@rule
def release_image(ctx: RuleContext):
    kubeflow, policy = ctx.config.kubeflow, ctx.config.policy
    image = kubeflow.releaseImage
    if image is None:
        if not ctx.repo.config_valid:
            return  # mlopsc.yaml's own errors come first; its defaults are not what the user wrote
        users = _users(ctx)
        if users:
            registry = policy.allowedRegistries[0].rstrip("/") if policy.allowedRegistries else "<registry>"
            shown = (", ".join(users[:3]) + f" and {len(users) - 3} more" if len(users) > 3
                     else " and ".join(filter(None, (", ".join(users[:-1]), users[-1]))))
            yield codes.RELEASE_IMAGE_REQUIRED.at(
                _config_position(ctx, ("kubeflow",)),
                f"kubeflow.releaseImage is not set, but {shown} need it: it runs the release task and "
                f"the schedule reconciler. Build and push this project's Dockerfile "
                f"(`docker build -t {registry}/mlopsc . && docker push {registry}/mlopsc`), then pin it "
                f"by digest: `kubeflow: {{releaseImage: {registry}/mlopsc@sha256:<64 hex>}}` "
                f"(docs/SCHEDULES.md)")
        return
    yield from image_policy(_config_position(ctx, ("kubeflow", "releaseImage")), image, policy,
                            "kubeflow.releaseImage", " (`docker push` prints the digest)")


@rule
def api_url(ctx: RuleContext):
    url = ctx.config.kubeflow.apiURL
    if not url.startswith(API_SCHEMES) or not url.partition("://")[2].strip("/"):
        position = _config_position(ctx, ("kubeflow", "apiURL"))
        yield codes.INVALID_URI.at(position, f"kubeflow.apiURL `{url}` must be an http:// or https:// URL of "
                                             f"the Kubeflow Pipelines API, e.g. "
                                             f"`http://ml-pipeline.kubeflow.svc.cluster.local:8888`")


@rule
def schedules(ctx: RuleContext):
    for project in ctx.repo.projects:
        expr = project.model.spec.schedule
        if expr is None:
            continue
        position = project.doc.position(("spec", "schedule"))
        if not has_pipeline(project):
            yield codes.SCHEDULE_WITHOUT_PIPELINE.at(
                position, f"schedule `{expr}` would run the pipeline of {project.key}, but the project has "
                          f"no steps or evaluations, so it has no pipeline: add a step or remove `schedule`")
        if day_of_week_seven(expr):
            yield codes.CRON_KFP_REFUSES.at(
                position, f"schedule `{expr}`: Kubeflow Pipelines' cron takes day of week 0-6 and refuses 7; "
                          f"write Sunday as 0 or SUN")


@rule
def schedule_object_names(ctx: RuleContext):
    """The reconciler's objects are named after the team; a Job's name must fit in a label."""
    doc = ctx.repo.config_doc
    for team in layout.teams(ctx.config, ctx.repo.projects):
        name = layout.schedules_object_name(team)
        if len(name) > 63:
            if ctx.config.teams is not None and doc is not None:
                position = doc.key_position(("teams", team))
            else:
                position = next(p.doc.position(("metadata", "team")) for p in ctx.repo.projects
                                if p.model.metadata.team == team)
            yield codes.NOT_DNS1123.at(position, f"team `{team}` names the schedule reconciler's Job "
                                                 f"`{name}`, longer than 63 characters: shorten the team name")
