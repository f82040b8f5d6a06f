"""Serving targets: runtime choice, replicas, canaries, and what may be released where."""

from __future__ import annotations

from ... import codes
from . import RuleContext, rule

# What KServe's storage initializer can download (its webhook rejects other schemes).
STORAGE_SCHEMES = ("gs", "s3", "pvc", "file", "https", "http", "hdfs", "webhdfs", "oci", "hf")


@rule
def serving_targets(ctx: RuleContext):
    envs = ctx.config.environments
    for project in ctx.repo.projects:
        doc = project.doc
        for name, target in project.model.spec.serving.items():
            base = ("spec", "serving", name)
            runtime = target.runtime
            if (runtime.kserve is None) == (runtime.container is None):
                yield codes.RUNTIME_CHOICE.at(doc.position(base + ("runtime",)),
                                              f"serving target `{name}`: runtime must set exactly one of "
                                              f"`kserve` or `container`")
            for env, se in target.environments.items():
                path = base + ("environments", env)
                if se.replicas.min > se.replicas.max:
                    yield codes.REPLICAS_MIN_GT_MAX.at(
                        doc.position(path + ("replicas", "min")),
                        f"replicas.min {se.replicas.min} is greater than replicas.max {se.replicas.max}")
                if se.autoscaling and se.autoscaling.metric == "cpu" and not 1 <= se.autoscaling.target <= 100:
                    yield codes.SCALE_TARGET.at(doc.position(path + ("autoscaling", "target")),
                                                f"cpu target {se.autoscaling.target}% is outside 1-100")
                if se.canary is not None:
                    if not 0 <= se.canary.percent <= 100:
                        yield codes.CANARY_PERCENT.at(doc.position(path + ("canary", "percent")),
                                                      f"canary.percent {se.canary.percent} is outside 0-100")
                    if se.release is None:
                        yield codes.CANARY_WITHOUT_RELEASE.at(
                            doc.position(path + ("canary",), key=True),
                            f"environment `{env}` has a canary but no release to split traffic with")
                releases = [("release", se.release)] + ([("canary", se.canary.release)] if se.canary else [])
                for where, rel in releases:
                    if rel is None:
                        continue
                    rel_path = path + ((where,) if where == "release" else ("canary", "release"))
                    scheme = rel.uri.partition("://")[0] if "://" in rel.uri else ""
                    if scheme not in STORAGE_SCHEMES:
                        yield codes.STORAGE_SCHEME.at(
                            doc.position(rel_path + ("uri",)),
                            f"release uri `{rel.uri}`: KServe cannot download from this scheme "
                            f"(supported: {', '.join(s + '://' for s in STORAGE_SCHEMES)})")
                    env_config = envs.get(env)
                    if env_config is not None and env_config.promotesFrom and not target.gates:
                        yield codes.UNGATED_PROMOTION.at(
                            doc.position(rel_path, key=True),
                            f"`{name}` has no gates, so it may not be released to `{env}`, which "
                            f"promotes from `{env_config.promotesFrom}`: add `gates: [<evaluation>]`")
