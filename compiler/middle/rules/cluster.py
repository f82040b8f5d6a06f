"""What the API server (or Argo CD, or an image pull) would refuse, checked before anything is written.

Every string or integer of the spec or of mlopsc.yaml that lands in an emitted object is checked
here against the grammar or range of the field it lands in (docs/OUTPUT.md, "What reaches the
cluster", lists them): namespaces (DNS-1123 labels), label keys and values, object names (DNS-1123
subdomains), env variable names and Secret keys, image references, URLs, int32 fields and finite
numbers. The name grammars follow apimachinery's validation (compiler/middle/k8s_names.py, shared
with the other rules); images follow the distribution project's image reference grammar.
"""

from __future__ import annotations

import ipaddress
import math
import re
from urllib.parse import urlsplit

from ... import codes, layout
from ...frontend.models import SecretRef
from ..images import holds_space_or_control, image_problem
from ..k8s_names import (ENV_VAR_NAME, dns1123_label_message, is_config_key, is_dns1123_label,
                         is_dns1123_subdomain, label_key_problem, label_value_problem)
from . import RuleContext, containers_in, releases_in, resources_in, rule, tasks
from .serving import STORAGE_SCHEMES

INT32_MAX = 2**31 - 1
HOSTNAME = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
SCP_LIKE_GIT = re.compile(r"^[A-Za-z0-9._-]+@([^:/\s]+):[^\s]+\Z")


# -- grammars ---------------------------------------------------------------------------------
def _host_problem(host: str | None, port_text: str) -> str | None:
    if not host:
        return "has no host"
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
            return f"has the port `{port_text}`, which is not 1-65535"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not HOSTNAME.match(host):
        return f"has the host `{host}`, which is not a host name"
    return None


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why `url` is not `<scheme>://<host>[:port][/path]` with one of `schemes`, or None."""
    if not url or holds_space_or_control(url):
        return "is empty or holds white space or control characters"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        return f"must start with {' or '.join(s + '://' for s in schemes)}"
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        return "holds a password: credentials never go into Git"
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    if scheme.lower() in ("s3", "gs", "minio", "pvc", "hf", "oci", "hdfs", "webhdfs", "file"):
        # A bucket, claim or repository name, not a host name.
        return None if host or scheme.lower() == "file" else "has no bucket or host after `://`"
    try:
        urlsplit(url)
    except ValueError as exc:
        return f"is not a URL ({exc})"
    return _host_problem(host, port)


def repo_url_problem(url: str) -> str | None:
    """Argo CD clones https:// and ssh:// URLs and scp-like `git@host:path`."""
    m = SCP_LIKE_GIT.match(url)
    if m:
        return _host_problem(m[1], "")
    return url_problem(url, ("https", "http", "ssh"))


# -- where they apply -----------------------------------------------------------------------------
@rule
def repository_settings(ctx: RuleContext):
    """mlopsc.yaml: every setting that reaches an object."""
    doc, config = ctx.repo.config_doc, ctx.config
    if doc is None:
        return  # defaults only, all valid
    explicit = doc.position  # a value's position; settings left at their default are not in the file

    namespaces = [(("gitops", "argocdNamespace"), config.gitops.argocdNamespace),
                  (("kserve", "ingressNamespace"), config.kserve.ingressNamespace)]
    if config.kubeflow.namespace is not None:
        namespaces.append((("kubeflow", "namespace"), config.kubeflow.namespace))
    for path, value in namespaces:
        if not is_dns1123_label(value):
            yield codes.NOT_DNS1123.at(explicit(path),
                                       dns1123_label_message(".".join(path) + " (a namespace)", value))

    problem = config.kubeflow.releaseImage is not None and image_problem(config.kubeflow.releaseImage)
    if problem:
        yield codes.INVALID_IMAGE.at(explicit(("kubeflow", "releaseImage")),
                                     f"kubeflow.releaseImage `{config.kubeflow.releaseImage}` {problem}")
    problem = repo_url_problem(config.gitops.repoURL)
    if problem:
        yield codes.INVALID_URL.at(explicit(("gitops", "repoURL")),
                                   f"gitops.repoURL `{config.gitops.repoURL}` {problem}: Argo CD clones "
                                   f"https://, ssh:// or git@<host>:<path> URLs")
    problem = layout.ref_name_problem(config.gitops.targetRevision)
    if problem:
        yield codes.INVALID_REVISION.at(explicit(("gitops", "targetRevision")),
                                        f"gitops.targetRevision `{config.gitops.targetRevision}` {problem}: it is "
                                        f"the branch, tag or commit Argo CD syncs")
    problem = url_problem(config.kubeflow.pipelineRoot, ("s3", "gs", "minio", "https", "http"))
    if problem:
        yield codes.INVALID_URL.at(explicit(("kubeflow", "pipelineRoot")),
                                   f"kubeflow.pipelineRoot `{config.kubeflow.pipelineRoot}` {problem}")
    for name, env in config.environments.items():
        problem = url_problem(env.cluster, ("https", "http"))
        if problem:
            yield codes.INVALID_URL.at(explicit(("environments", name, "cluster")),
                                       f"environments.{name}.cluster `{env.cluster}` {problem}: it is the "
                                       f"API server URL Argo CD deploys to, e.g. https://kubernetes.default.svc")
    problem = label_key_problem(config.accelerators.nodeLabel)
    if problem:
        yield codes.NOT_LABEL_KEY.at(explicit(("accelerators", "nodeLabel")),
                                     f"accelerators.nodeLabel `{config.accelerators.nodeLabel}` {problem}")



@rule
def images(ctx: RuleContext):
    for project in ctx.repo.projects:
        for path, item in containers_in(project):
            problem = image_problem(item.image)
            if problem:
                yield codes.INVALID_IMAGE.at(project.doc.position(path + ("image",)),
                                             f"image `{item.image}` {problem}")


@rule
def env_and_secrets(ctx: RuleContext):
    for project in ctx.repo.projects:
        doc = project.doc
        for path, item in containers_in(project):
            for key, value in item.env.items():
                if not ENV_VAR_NAME.match(key):
                    yield codes.INVALID_KEY.at(doc.key_position(path + ("env", key)),
                                               f"env variable name `{key}` must be letters, digits, '_', '-' "
                                               f"and '.', not starting with a digit")
                if isinstance(value, SecretRef):
                    where = path + ("env", key)
                    if not is_dns1123_subdomain(value.secret):
                        yield codes.NOT_OBJECT_NAME.at(
                            doc.position(where + ("secret",)),
                            f"Secret name `{value.secret}` is not a DNS-1123 subdomain (lowercase letters, "
                            f"digits, '-' and '.', at most 253 characters)")
                    if not is_config_key(value.key):
                        yield codes.INVALID_KEY.at(doc.position(where + ("key",)),
                                                   f"Secret key `{value.key}` must be letters, digits, '-', '_' "
                                                   f"and '.' (at most 253 characters)")
        for name, target in project.model.spec.serving.items():
            kserve = target.runtime.kserve
            if kserve is not None and kserve.runtime is not None and not is_dns1123_subdomain(kserve.runtime):
                yield codes.NOT_OBJECT_NAME.at(
                    doc.position(("spec", "serving", name, "runtime", "kserve", "runtime")),
                    f"runtime `{kserve.runtime}` names a ServingRuntime, so it must be a DNS-1123 subdomain")


@rule
def labels_and_counts(ctx: RuleContext):
    """gpuType becomes a nodeSelector value; counts become int32 fields."""
    for project in ctx.repo.projects:
        doc = project.doc
        for path, res in resources_in(project):
            if res.gpuType is not None:
                problem = label_value_problem(res.gpuType)
                if problem:
                    suggestion = re.sub(r"[^a-z0-9]+", "-", res.gpuType.lower()).strip("-")[:63]
                    yield codes.NOT_LABEL_VALUE.at(
                        doc.position(path + ("gpuType",)),
                        f"gpuType `{res.gpuType}` becomes the value of node label "
                        f"`{ctx.config.accelerators.nodeLabel}` and {problem}; use the node label's value, "
                        f"e.g. `{suggestion or 'nvidia-l4'}`")
            if res.gpu is not None and res.gpu > INT32_MAX:
                yield _int32(doc.position(path + ("gpu",)), "gpu", res.gpu)
        for name, target in project.model.spec.serving.items():
            for env, se in target.environments.items():
                base = ("spec", "serving", name, "environments", env)
                for field in ("min", "max"):
                    value = getattr(se.replicas, field)
                    if value > INT32_MAX:
                        yield _int32(doc.position(base + ("replicas", field)), f"replicas.{field}", value)
                if se.autoscaling is not None and se.autoscaling.target > INT32_MAX:
                    yield _int32(doc.position(base + ("autoscaling", "target")), "autoscaling.target",
                                 se.autoscaling.target)


@rule
def release_uris(ctx: RuleContext):
    """A release uri becomes storageUri, STORAGE_URI and an annotation: a supported scheme (K006
    reports others) followed by a bucket or host, without spaces or control characters."""
    for project in ctx.repo.projects:
        for _, _, _, path, release in releases_in(project):
            if release is None or release.uri.partition("://")[0] not in STORAGE_SCHEMES:
                continue
            problem = url_problem(release.uri, STORAGE_SCHEMES)
            if problem:
                yield codes.INVALID_URL.at(project.doc.position(path + ("uri",)),
                                           f"release uri `{release.uri}` {problem}")


def _int32(position, what: str, value: int):
    return codes.INT32_RANGE.at(position, f"{what} {value} is larger than {INT32_MAX}, the most the "
                                          f"Kubernetes field it becomes can hold (an int32)")


@rule
def finite_numbers(ctx: RuleContext):
    """YAML's `.inf` and `.nan` are floats too; no JSON or object can hold them (a canary percentage
    that is not finite is not a whole percentage either: K004 reports it)."""
    for project in ctx.repo.projects:
        doc = project.doc
        spec = project.model.spec
        for task in tasks(project):
            for name, value in task.item.params.items():
                for where, bad in _non_finite(value, ()):
                    yield _not_finite(doc.position(task.path + ("params", name) + where), f"param `{name}`", bad)
        for path, item in containers_in(project):
            for key, value in item.env.items():
                if isinstance(value, float) and not math.isfinite(value):
                    yield _not_finite(doc.position(path + ("env", key)), f"env `{key}`", value)
        for name, source in spec.sources.items():
            if isinstance(source.version, float) and not math.isfinite(source.version):
                yield _not_finite(doc.position(("spec", "sources", name, "version")), f"source `{name}` version",
                                  source.version)


def _non_finite(value, path: tuple):
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _non_finite(v, path + (i,))


def _not_finite(position, what: str, value: float):
    return codes.NOT_FINITE.at(position, f"{what} is {value}: a JSON document, a Kubernetes object and a "
                                         f"KFP pipeline hold only finite numbers")
