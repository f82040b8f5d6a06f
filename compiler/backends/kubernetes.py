"""Serving manifests: KServe InferenceServices, or Deployment + Service + HPA, and the team namespaces.

Per project, serving target and environment that has a release, under
`layout.serving_dir(env, team, project)` (one object per file):

- `runtime.kserve`: an InferenceService in the `predictor.model.modelFormat` form (the legacy
  per-framework fields are rewritten by KServe's webhook, which Argo CD reports as drift forever);
  a canary is `spec.canary` in Standard mode and `canaryTrafficPercent` in Knative mode;
- `runtime.container`: Deployment + Service + HorizontalPodAutoscaler, the model location in
  STORAGE_URI; a canary is a second Deployment (and HPA) behind the same Service, its share of
  traffic set by its share of the pods (docs/OUTPUT.md gives the arithmetic);
- for both: a ServiceAccount without a token and a default-deny NetworkPolicy.

Every object of a target carries the same lineage annotations (ANNOTATIONS below, documented in
docs/OUTPUT.md). Per team and environment, a Namespace `<team>-<env>` labelled for Pod Security
`restricted` goes under `layout.platform_dir(env)`, synced by a platform Application.

Core objects are built with the kubernetes client's typed models, so a misspelt field is a
TypeError here rather than a field the API server silently drops; they come from k8s_models.py,
the same models and serialisation without the client's half-second import.
InferenceServices are plain dicts (no typed model exists) whose pod-level parts reuse the typed ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property, partial

import networkx as nx

from ..frontend.loader import LoadedProject
from ..frontend.models import ContainerRuntime, Release, Resources, SecretRef, ServingEnvironment, ServingTarget
from ..middle import refs
from ..middle.check import CheckedRepository
from ..middle.monitoring import extra_metrics_port, has_slo, monitored_environments, scrape_ports
from ..middle.quantity import canonical_quantity
from ..middle.storage import StorageIdentity, resolve_storage
from .. import layout
from . import Document

ANNOTATION_PREFIX = "mlopsc.dev/"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlopsc"}
# The label that tells the stable pods from the canary's (Deployment selectors and the canary).
TRACK_LABEL = "mlopsc.dev/track"
# Applied when an environment sets no resources: KServe's own defaults for a predictor.
DEFAULT_RESOURCES = layout.SERVING_RESOURCES
GPU_RESOURCE = "nvidia.com/gpu"
# Autoscaling when an environment sets none: what KServe's HPA would default to anyway.
DEFAULT_SCALING = ("cpu", 80)
# KServe's model servers listen on 8080 (HTTP/REST) and 8081 (gRPC).
KSERVE_HTTP_PORT, KSERVE_GRPC_PORT = 8080, 8081
# In Knative mode, traffic enters through queue-proxy: 8012 (HTTP/1), 8013 (h2c); the activator
# and autoscaler (namespace knative-serving) also scrape its metrics on 9090.
KNATIVE_NAMESPACE = "knative-serving"
KNATIVE_QUEUE_PORTS, KNATIVE_METRICS_PORT = (8012, 8013), 9090
SERVICE_PORT = 80
# Storage schemes the model is fetched from over the network, and the port that takes.
STORAGE_EGRESS_PORTS = {"s3": 443, "gs": 443, "https": 443, "hf": 443, "oci": 443, "http": 80}
TMP_MOUNT = "/tmp"  # writable scratch space, since the root filesystem is read-only
# On the pods of a target whose ServiceAccount has a storage identity: a hash of it, so a changed
# identity rolls the pods (IRSA, Azure and KServe inject credentials when a pod is created, never into a running one).
IDENTITY_ANNOTATION = f"{ANNOTATION_PREFIX}storage-identity"
# Azure Workload Identity's webhook mutates only pods with this label (its ServiceAccount
# annotations alone do nothing): set when the identity has an `azure.workload.identity/` annotation.
AZURE_IDENTITY_PREFIX = "azure.workload.identity/"
AZURE_USE_LABEL = {"azure.workload.identity/use": "true"}
# Probes, on the port the server takes traffic on. TCP, because the model servers differ in their
# HTTP health paths (KServe's Python servers answer /v2/health/live, TF Serving does not). The
# startup probe gives a server 10 minutes (60 x 10 s) to load its model before the liveness probe
# may restart it; after that, 3 failed checks 10 s apart restart the container.
PROBE_PERIOD, STARTUP_FAILURES, LIVENESS_FAILURES = 10, 60, 3


def emit(checked: CheckedRepository) -> list[Document]:
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own: "" the namespaces, then each project's serving objects."""
    return [""] + [project.key for project in checked.projects]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    from . import k8s_models as client  # the client's models without its import cost

    build = _Builder(client, checked)
    if not unit:
        return build.namespaces()
    documents: list[Document] = []
    for project in [checked.lineage.projects[unit]]:
        for target_name in sorted(project.model.spec.serving):
            target = project.model.spec.serving[target_name]
            for env in sorted(target.environments):
                serving_env = target.environments[env]
                if serving_env.release is not None and env in checked.config.environments:
                    documents.extend(build.serving(_Target(checked, project, target_name, target, env,
                                                           serving_env)))
    return documents


@dataclass
class _Target:
    """One serving target in one environment: everything its objects are made from."""

    checked: CheckedRepository
    project: LoadedProject
    name: str
    spec: ServingTarget
    env: str
    serving: ServingEnvironment

    @property
    def team(self) -> str:
        return self.project.model.metadata.team

    @property
    def namespace(self) -> str:
        return layout.namespace(self.team, self.env)

    @property
    def directory(self) -> str:
        return layout.serving_dir(self.env, self.team, self.project.model.metadata.name)

    @property
    def labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name,
                "app.kubernetes.io/part-of": self.project.model.metadata.name,
                **MANAGED_BY,
                "mlopsc.dev/team": self.team,
                "mlopsc.dev/environment": self.env}

    @cached_property
    def annotations(self) -> dict[str, str]:
        return lineage_annotations(self.checked, self)

    @cached_property
    def identity(self) -> StorageIdentity:
        return resolve_storage(self.checked.config, self.team, self.env)

    def pod_labels(self, track: str) -> dict[str, str]:
        labels = {**self.labels, TRACK_LABEL: track}
        if any(key.startswith(AZURE_IDENTITY_PREFIX) for key in self.identity.annotations):
            labels.update(AZURE_USE_LABEL)
        return labels

    def pod_annotations(self, release: Release) -> dict[str, str]:
        # A new model digest at an unchanged uri still rolls the pods; so does a new identity.
        annotations = {f"{ANNOTATION_PREFIX}model-digest": release.digest}
        if not self.identity.serving_is_default:
            annotations[IDENTITY_ANNOTATION] = self.identity.fingerprint()
        return annotations

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": self.project.model.metadata.name}


class _Models:
    """The client's model classes, all sharing one Configuration: by default each model object
    builds its own, which took most of the emit time on a thousand projects."""

    def __init__(self, client):
        self._client = client
        self._configuration = client.Configuration()

    def __getattr__(self, name: str):
        return partial(getattr(self._client, name), local_vars_configuration=self._configuration)


class _Builder:
    def __init__(self, client, checked: CheckedRepository):
        self.k8s = _Models(client)
        self.checked = checked
        self.config = checked.config
        self.sanitize = client.ApiClient().sanitize_for_serialization

    # -- documents -------------------------------------------------------------------------------
    def _document(self, directory: str, obj, owner: str | None) -> Document:
        data = obj if isinstance(obj, dict) else _reviewer_order(self.sanitize(obj))
        return Document(f"{directory}/{layout.object_filename(data['kind'], data['metadata']['name'])}",
                        data, owner=owner)

    def _meta(self, t: _Target, name: str):
        return self.k8s.V1ObjectMeta(name=name, namespace=t.namespace, labels=t.labels,
                                     annotations=t.annotations)

    # -- namespaces ------------------------------------------------------------------------------
    def namespaces(self) -> list[Document]:
        config = self.config
        teams = sorted(config.teams) if config.teams is not None else sorted(
            {p.model.metadata.team for p in self.checked.projects})
        documents = []
        for env in config.environments:
            for team in teams:
                namespace = self.k8s.V1Namespace(
                    api_version="v1", kind="Namespace",
                    metadata=self.k8s.V1ObjectMeta(
                        name=layout.namespace(team, env),
                        labels={**MANAGED_BY, "mlopsc.dev/team": team, "mlopsc.dev/environment": env,
                                **{f"pod-security.kubernetes.io/{mode}": "restricted"
                                   for mode in ("enforce", "audit", "warn")}},
                        # Deleting a namespace deletes everything in it: removing a team or an
                        # environment from mlopsc.yaml leaves its namespaces for an operator to delete.
                        annotations={"argocd.argoproj.io/sync-options": "Prune=false"}))
                documents.append(self._document(layout.platform_dir(env), namespace, None))
        return documents

    # -- one serving target in one environment ---------------------------------------------------
    def serving(self, t: _Target) -> list[Document]:
        objects = [self.service_account(t), self.network_policy(t)]
        if t.spec.runtime.kserve is not None:
            objects.append(self.inference_service(t))
        else:
            objects.extend(self.container_workload(t))
        return [self._document(t.directory, obj, t.project.key) for obj in objects]

    def service_account(self, t: _Target):
        """The pods' identity: mlopsc.yaml's storage annotations (a workload identity) and Secrets
        (KServe's storage credentials); still no token mounted (docs/STORAGE.md says why that works)."""
        identity = t.identity
        metadata = self.k8s.V1ObjectMeta(name=t.name, namespace=t.namespace, labels=t.labels,
                                         annotations=dict(sorted({**identity.annotations, **t.annotations}.items())))
        secrets = [self.k8s.V1ObjectReference(name=name) for name in identity.secrets] or None
        return self.k8s.V1ServiceAccount(api_version="v1", kind="ServiceAccount", metadata=metadata,
                                         secrets=secrets, automount_service_account_token=False)

    def network_policy(self, t: _Target):
        k = self.k8s

        def namespace_peer(name: str):
            return k.V1NetworkPolicyPeer(
                namespace_selector=k.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": name}))

        def tcp(*ports: int):
            return [k.V1NetworkPolicyPort(protocol="TCP", port=port) for port in ports]

        ingress_namespace = self.config.kserve.ingressNamespace
        knative = t.spec.runtime.kserve is not None and self.config.kserve.deploymentMode == "Knative"
        if knative:
            ingress = [k.V1NetworkPolicyIngressRule(_from=[namespace_peer(ingress_namespace)],
                                                    ports=tcp(*KNATIVE_QUEUE_PORTS)),
                       k.V1NetworkPolicyIngressRule(_from=[namespace_peer(KNATIVE_NAMESPACE)],
                                                    ports=tcp(*KNATIVE_QUEUE_PORTS, KNATIVE_METRICS_PORT))]
        else:
            ingress = [k.V1NetworkPolicyIngressRule(_from=[namespace_peer(ingress_namespace)],
                                                    ports=tcp(*serving_ports(t)))]
        if has_slo(t.spec) and t.env in monitored_environments(self.config, t.spec):
            # Prometheus scrapes the SLIs' metrics (docs/MONITORING.md).
            ingress.append(k.V1NetworkPolicyIngressRule(_from=[namespace_peer(self.config.monitoring.namespace)],
                                                        ports=tcp(*scrape_ports(self.config, t.spec))))
        dns = k.V1NetworkPolicyEgressRule(
            to=[k.V1NetworkPolicyPeer(
                namespace_selector=k.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                pod_selector=k.V1LabelSelector(match_labels={"k8s-app": "kube-dns"}))],
            ports=[k.V1NetworkPolicyPort(protocol=protocol, port=53) for protocol in ("UDP", "TCP")])
        egress = [dns]
        storage_ports = sorted({STORAGE_EGRESS_PORTS[s] for s in release_schemes(t) if s in STORAGE_EGRESS_PORTS})
        if storage_ports:
            # The storage initializer (or the container) downloads the model from outside the cluster.
            egress.append(k.V1NetworkPolicyEgressRule(
                to=[k.V1NetworkPolicyPeer(ip_block=k.V1IPBlock(cidr=cidr)) for cidr in ("0.0.0.0/0", "::/0")],
                ports=tcp(*storage_ports)))
        return k.V1NetworkPolicy(
            api_version="networking.k8s.io/v1", kind="NetworkPolicy", metadata=self._meta(t, t.name),
            spec=k.V1NetworkPolicySpec(pod_selector=k.V1LabelSelector(match_labels=t.selector),
                                       policy_types=["Ingress", "Egress"], ingress=ingress, egress=egress))

    # -- pod parts shared by KServe and plain Deployments ----------------------------------------
    def pod_security_context(self, t: _Target):
        user, group = run_as(self.config, t.spec)
        return self.k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=user, run_as_group=group,
                                              seccomp_profile=self.k8s.V1SeccompProfile(type="RuntimeDefault"))

    def probes(self, port) -> dict:
        """Liveness and startup probes, as container keyword arguments (the readiness probe is the
        container runtime's own below; KServe adds one to the model server itself)."""
        k = self.k8s
        return {"liveness_probe": k.V1Probe(tcp_socket=k.V1TCPSocketAction(port=port), period_seconds=PROBE_PERIOD,
                                            failure_threshold=LIVENESS_FAILURES),
                "startup_probe": k.V1Probe(tcp_socket=k.V1TCPSocketAction(port=port), period_seconds=PROBE_PERIOD,
                                           failure_threshold=STARTUP_FAILURES)}

    def container_security_context(self):
        return self.k8s.V1SecurityContext(allow_privilege_escalation=False, read_only_root_filesystem=True,
                                          run_as_non_root=True,
                                          capabilities=self.k8s.V1Capabilities(drop=["ALL"]),
                                          seccomp_profile=self.k8s.V1SeccompProfile(type="RuntimeDefault"))

    def resources(self, resources: Resources | None):
        given = resources or Resources()
        amounts = {"cpu": canonical_quantity(given.cpu if given.cpu is not None else DEFAULT_RESOURCES["cpu"]),
                   "memory": canonical_quantity(given.memory if given.memory is not None
                                                else DEFAULT_RESOURCES["memory"])}
        if given.gpu:
            amounts[GPU_RESOURCE] = str(given.gpu)
        # Limits equal requests: the pod is Guaranteed, and scanners' "limits set" checks pass.
        return self.k8s.V1ResourceRequirements(requests=dict(amounts), limits=dict(amounts))

    def gpu_scheduling(self, resources: Resources | None) -> dict:
        """nodeSelector and tolerations for GPU pods, as pod-spec keyword arguments."""
        if not resources or not resources.gpu:
            return {}
        placement = {"tolerations": [self.k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists",
                                                           effect="NoSchedule")]}
        if resources.gpuType:
            placement["node_selector"] = {self.config.accelerators.nodeLabel: resources.gpuType}
        return placement

    def tmp_volume(self):
        return self.k8s.V1Volume(name="tmp", empty_dir=self.k8s.V1EmptyDirVolumeSource())

    def tmp_mount(self):
        return self.k8s.V1VolumeMount(name="tmp", mount_path=TMP_MOUNT)

    # -- KServe ----------------------------------------------------------------------------------
    def inference_service(self, t: _Target) -> dict:
        mode = self.config.kserve.deploymentMode
        se = t.serving
        # Without autoscaling settings, Knative keeps its own autoscaler's defaults (concurrency).
        metric, target = (None, None) if mode == "Knative" and se.autoscaling is None else _scaling(se)
        annotations = {**t.annotations, "serving.kserve.io/deploymentMode": mode}
        if mode == "Standard":
            annotations["serving.kserve.io/autoscalerClass"] = "hpa"
        elif metric in ("cpu", "memory"):
            # Knative's default autoscaler (KPA) scales on concurrency or rps only.
            annotations["autoscaling.knative.dev/class"] = "hpa.autoscaling.knative.dev"
        canary = se.canary
        # Knative splits traffic between the previous ready revision and the spec as applied, so
        # the applied spec is the canary's model; Standard mode names both models in the spec.
        knative_canary = canary is not None and mode == "Knative"
        release = canary.release if knative_canary else se.release
        predictor = {"minReplicas": se.replicas.min, "maxReplicas": se.replicas.max}
        if metric is not None:
            predictor.update(scaleMetric=metric, scaleTarget=target)
        if knative_canary:
            predictor["canaryTrafficPercent"] = int(canary.percent)
        predictor.update(self._predictor_pod(t, release, track="canary" if knative_canary else "stable"))
        predictor["model"] = self._model(t, release)
        spec: dict = {"predictor": predictor}
        if canary is not None and mode == "Standard":
            canary_predictor = {"name": "canary", **_canary_replicas(se, int(canary.percent))}
            if metric is not None:
                canary_predictor.update(scaleMetric=metric, scaleTarget=target)
            canary_predictor.update(self._predictor_pod(t, canary.release, track="canary"))
            # The canary serves under the target's name too, so clients' model paths do not change.
            canary_predictor["model"] = {"name": t.name, **self._model(t, canary.release)}
            spec["canary"] = [{"trafficPercent": int(canary.percent), "predictor": canary_predictor}]
        return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": t.name, "namespace": t.namespace, "labels": t.labels,
                             "annotations": annotations},
                "spec": spec}

    def _predictor_pod(self, t: _Target, release: Release, track: str) -> dict:
        """The pod-level fields of a predictor (KServe's ComponentExtensionSpec and PodSpec)."""
        resources = t.serving.resources
        pod = self.sanitize(self.k8s.V1PodSpec(
            containers=[], service_account_name=t.name, automount_service_account_token=False,
            security_context=self.pod_security_context(t), volumes=[self.tmp_volume()],
            **self.gpu_scheduling(resources)))
        pod.pop("containers")  # the model container is `model:`, not a PodSpec container
        return {"labels": t.pod_labels(track),
                "annotations": t.pod_annotations(release),
                **pod}

    def _model(self, t: _Target, release: Release) -> dict:
        kserve = t.spec.runtime.kserve
        model_format = {"name": kserve.format}
        if kserve.version:
            model_format["version"] = kserve.version
        model: dict = {"modelFormat": model_format}
        if kserve.runtime:
            model["runtime"] = kserve.runtime
        if kserve.protocolVersion:
            model["protocolVersion"] = kserve.protocolVersion
        model["storageUri"] = release.uri
        model["resources"] = self.sanitize(self.resources(t.serving.resources))
        model["securityContext"] = self.sanitize(self.container_security_context())
        model["volumeMounts"] = [self.sanitize(self.tmp_mount())]
        # KServe gives the model server a TCP readiness probe (Standard mode) or Knative's queue-proxy
        # probes it (Knative mode); neither restarts a hung server, so liveness is ours.
        model.update({key_camel(k): self.sanitize(v) for k, v in self.probes(serving_ports(t)[0]).items()})
        return model

    # -- plain Deployments -----------------------------------------------------------------------
    def container_workload(self, t: _Target) -> list:
        k = self.k8s
        se = t.serving
        metric, target = _scaling(se)
        # A track's share of the traffic is its share of the pods behind the Service.
        stable_range = (se.replicas.min, se.replicas.max)
        tracks = [("stable", t.name, se.release, stable_range)]
        if se.canary is not None:
            percent = int(se.canary.percent)
            canary = _canary_replicas(se, percent)
            canary_range = (0, 0) if percent == 0 else (canary["minReplicas"], canary["maxReplicas"])
            if percent == 100:
                tracks = [("stable", t.name, se.release, (0, 0))]
            tracks.append(("canary", f"{t.name}-canary", se.canary.release, canary_range))
        objects = []
        for track, name, release, (low, high) in tracks:
            # Without an HPA (a track given no share) the Deployment says 0 replicas itself;
            # otherwise `replicas` is left to the HPA, or Argo CD and the HPA would fight over it.
            objects.append(k.V1Deployment(
                api_version="apps/v1", kind="Deployment", metadata=self._meta(t, name),
                spec=k.V1DeploymentSpec(
                    replicas=0 if high == 0 else None,
                    selector=k.V1LabelSelector(match_labels={**t.selector, TRACK_LABEL: track}),
                    template=k.V1PodTemplateSpec(
                        metadata=k.V1ObjectMeta(labels=t.pod_labels(track),
                                                annotations=t.pod_annotations(release)),
                        spec=self._container_pod(t, release)))))
            if high > 0:
                objects.append(k.V2HorizontalPodAutoscaler(
                    api_version="autoscaling/v2", kind="HorizontalPodAutoscaler", metadata=self._meta(t, name),
                    spec=k.V2HorizontalPodAutoscalerSpec(
                        scale_target_ref=k.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment",
                                                                         name=name),
                        min_replicas=low, max_replicas=high,
                        metrics=[k.V2MetricSpec(type="Resource", resource=k.V2ResourceMetricSource(
                            name=metric, target=k.V2MetricTarget(type="Utilization", average_utilization=target)))])))
        service_ports = [k.V1ServicePort(name="http", protocol="TCP", port=SERVICE_PORT, target_port="http")]
        if extra_metrics_port(t.spec):  # a ServiceMonitor scrapes it by this name
            service_ports.append(k.V1ServicePort(name="metrics", protocol="TCP", port=extra_metrics_port(t.spec),
                                                 target_port="metrics"))
        objects.append(k.V1Service(
            api_version="v1", kind="Service", metadata=self._meta(t, t.name),
            spec=k.V1ServiceSpec(type="ClusterIP", selector=t.selector,  # both tracks: pods share traffic
                                 ports=service_ports)))
        return objects

    def _container_pod(self, t: _Target, release: Release):
        k = self.k8s
        runtime: ContainerRuntime = t.spec.runtime.container
        env = [k.V1EnvVar(name="STORAGE_URI", value=release.uri)]
        for name, value in runtime.env.items():
            if isinstance(value, SecretRef):
                env.append(k.V1EnvVar(name=name, value_from=k.V1EnvVarSource(
                    secret_key_ref=k.V1SecretKeySelector(name=value.secret, key=value.key))))
            else:
                env.append(k.V1EnvVar(name=name, value=_env_text(value)))
        ports = [k.V1ContainerPort(name="http", container_port=runtime.port, protocol="TCP")]
        if extra_metrics_port(t.spec):
            ports.append(k.V1ContainerPort(name="metrics", container_port=extra_metrics_port(t.spec), protocol="TCP"))
        container = k.V1Container(
            name="server", image=runtime.image, command=runtime.command or None, args=runtime.args or None,
            ports=ports,
            env=env, resources=self.resources(t.serving.resources),
            readiness_probe=k.V1Probe(tcp_socket=k.V1TCPSocketAction(port="http")), **self.probes("http"),
            security_context=self.container_security_context(), volume_mounts=[self.tmp_mount()])
        return k.V1PodSpec(containers=[container], service_account_name=t.name,
                           automount_service_account_token=False, security_context=self.pod_security_context(t),
                           volumes=[self.tmp_volume()], **self.gpu_scheduling(t.serving.resources))


# -- helpers ---------------------------------------------------------------------------------------
def run_as(config, target: ServingTarget) -> tuple[int, int]:
    """The user and group a target's pods run as: its own `security`, else mlopsc.yaml's."""
    own = target.security
    user = own.runAsUser if own is not None and own.runAsUser is not None else config.security.runAsUser
    group = own.runAsGroup if own is not None and own.runAsGroup is not None else config.security.runAsGroup
    return user, group


def key_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _scaling(se: ServingEnvironment) -> tuple[str | None, int | None]:
    """The autoscaling metric and target: as set, else cpu 80 (what KServe's HPA defaults to)."""
    if se.autoscaling is not None:
        return se.autoscaling.metric, se.autoscaling.target
    return DEFAULT_SCALING


def _canary_replicas(se: ServingEnvironment, percent: int) -> dict[str, int]:
    """The canary's replica range: its percentage of the environment's, at least one pod."""
    low = max(1, math.ceil(se.replicas.min * percent / 100))
    return {"minReplicas": low, "maxReplicas": max(low, math.ceil(se.replicas.max * percent / 100))}


def serving_ports(t: _Target) -> list[int]:
    """Ports the serving pods take traffic on (Standard mode or a container runtime)."""
    if t.spec.runtime.container is not None:
        return [t.spec.runtime.container.port]
    if t.spec.runtime.kserve.protocolVersion == "grpc-v2":
        return [KSERVE_GRPC_PORT]
    return [KSERVE_HTTP_PORT]


def release_schemes(t: _Target) -> list[str]:
    releases = [t.serving.release] + ([t.serving.canary.release] if t.serving.canary else [])
    return [r.uri.partition("://")[0] for r in releases if r is not None]


def _reviewer_order(data: dict) -> dict:
    """apiVersion, kind, then metadata with name and namespace first (the client sorts fields
    alphabetically, which would put a screenful of annotations before the object's name)."""
    meta = data["metadata"]
    ordered_meta = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    ordered_meta.update((k, v) for k, v in meta.items() if k not in ordered_meta)
    rest = {k: v for k, v in data.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": data["apiVersion"], "kind": data["kind"], "metadata": ordered_meta, **rest}


def _env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compact(data: dict) -> str:
    # Strict JSON: the middle stage has refused every non-finite number (S007, E008).
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def lineage_annotations(checked: CheckedRepository, t: _Target) -> dict[str, str]:
    """What the objects of a serving target were made from, as `mlopsc.dev/*` annotations.

    Code commits, source versions and images are those upstream of the served model in the
    lineage graph (across projects too). For the model's own project, the evidence's record of
    what built the model overrides the spec's declaration: after a spec moves on, the model in
    service was still built from the older inputs (warning W003 says so at compile time).
    """
    key = t.project.key
    graph = checked.lineage.graph
    serving_node = refs.serving_id(key, t.name)
    upstream = sorted(nx.ancestors(graph, serving_node)) if serving_node in graph else []
    code, sources, images = {}, {}, {}
    for node in upstream:
        data = graph.nodes[node]
        if data["kind"] == "code":
            code[node.removesuffix(".code")] = (data["repo"], data["commit"])
        elif data["kind"] == "image":
            images[node.removesuffix(".image")] = data["image"]
        elif data["kind"] == "source":
            sources[node] = data["version"]
    if t.spec.runtime.container is not None:
        images[serving_node] = t.spec.runtime.container.image
    p = ANNOTATION_PREFIX
    annotations = {f"{p}spec": t.project.path, f"{p}project": key, f"{p}serving-target": t.name,
                   f"{p}environment": t.env, f"{p}image-digests": _compact(images)}
    annotations.update(_release_annotations(checked, key, "", t.serving.release, code, sources))
    if t.serving.canary is not None:
        annotations[f"{p}canary-percent"] = str(int(t.serving.canary.percent))
        annotations.update(_release_annotations(checked, key, "canary-", t.serving.canary.release, code, sources))
    return dict(sorted(annotations.items()))


def _release_annotations(checked: CheckedRepository, key: str, prefix: str, release: Release,
                         code: dict[str, tuple[str, str]], sources: dict[str, str]) -> dict[str, str]:
    code, sources = dict(code), dict(sources)
    evidence = checked.repo.evidence.get(release.evidence)
    record = evidence.record if evidence is not None else None
    p = ANNOTATION_PREFIX + prefix
    out = {f"{p}model-uri": release.uri, f"{p}model-digest": release.digest, f"{p}evidence": release.evidence}
    if record is not None:
        for name, commit in record.lineage.code.items():
            for node in (refs.step_id(key, name), refs.evaluation_id(key, name)):
                if node in code:
                    code[node] = (code[node][0], commit)
                    break
        for name, version in record.lineage.sources.items():
            if refs.source_id(key, name) in sources:
                sources[refs.source_id(key, name)] = version
        out[f"{p}evidence-metrics"] = _compact(record.metrics)
        if record.lineage.pipelineVersion:
            out[f"{p}pipeline-version"] = record.lineage.pipelineVersion
        if record.lineage.run:
            out[f"{p}pipeline-run"] = record.lineage.run
    out[f"{p}code-commits"] = _compact({node: f"{repo}@{commit}" for node, (repo, commit) in code.items()})
    out[f"{p}source-versions"] = _compact(sources)
    return out
