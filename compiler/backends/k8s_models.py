"""The Kubernetes client's typed models, without importing the client (half a second of start-up).

The serving emitter builds core objects with typed models so that a misspelt field is a
TypeError, not a field the API server silently drops. The `kubernetes` package does that, but
importing it costs more than the rest of a small compile. This module offers the same interface
the emitter uses (`V1Deployment(...)`, `Configuration()`, `ApiClient().sanitize_for_serialization`)
from a table of each model's fields in the client's own order, and serialises exactly as the
client does: models become dicts keyed by their JSON names in that order, `None` fields are left
out, lists and dicts are walked. The bytes are therefore the same (tests/test_k8s_models.py checks
the table against the installed client and the output of both on every bundled object).

A model missing from the table is taken from the real client on first use (slow start-up, same
output), so an emitter that needs a new kind works at once; add it to MODELS to keep start-up quick.
"""

from __future__ import annotations

# Model → its fields in the client's `openapi_types` order; `!` marks one that must not be None,
# `=key` a JSON name other than the camelCase of the field's.
MODELS = {
    "V1Capabilities": ("add drop"),
    "V1Container": ("args command env env_from image image_pull_policy lifecycle liveness_probe name! ports "
         "readiness_probe resize_policy resources restart_policy security_context startup_probe "
         "stdin stdin_once termination_message_path termination_message_policy tty volume_devices "
         "volume_mounts working_dir"),
    "V1ContainerPort": ("container_port! host_ip=hostIP host_port name protocol"),
    "V1Deployment": ("api_version kind metadata spec status"),
    "V1DeploymentSpec": ("min_ready_seconds paused progress_deadline_seconds replicas revision_history_limit "
         "selector! strategy template!"),
    "V1EmptyDirVolumeSource": ("medium size_limit"),
    "V1EnvVar": ("name! value value_from"),
    "V1EnvVarSource": ("config_map_key_ref field_ref resource_field_ref secret_key_ref"),
    "V1IPBlock": ("cidr! _except"),
    "V1LabelSelector": ("match_expressions match_labels"),
    "V1Namespace": ("api_version kind metadata spec status"),
    "V1NetworkPolicy": ("api_version kind metadata spec"),
    "V1NetworkPolicyEgressRule": ("ports to"),
    "V1NetworkPolicyIngressRule": ("_from ports"),
    "V1NetworkPolicyPeer": ("ip_block namespace_selector pod_selector"),
    "V1NetworkPolicyPort": ("end_port port protocol"),
    "V1NetworkPolicySpec": ("egress ingress pod_selector! policy_types"),
    "V1ObjectMeta": ("annotations creation_timestamp deletion_grace_period_seconds deletion_timestamp "
         "finalizers generate_name generation labels managed_fields name namespace "
         "owner_references resource_version self_link uid"),
    "V1ObjectReference": ("api_version field_path kind name namespace resource_version uid"),
    "V1PodSecurityContext": ("app_armor_profile fs_group fs_group_change_policy run_as_group run_as_non_root "
         "run_as_user se_linux_options seccomp_profile supplemental_groups sysctls windows_options"),
    "V1PodSpec": ("active_deadline_seconds affinity automount_service_account_token containers! dns_config "
         "dns_policy enable_service_links ephemeral_containers host_aliases host_ipc=hostIPC host_network "
         "host_pid=hostPID host_users hostname image_pull_secrets init_containers node_name node_selector "
         "os overhead preemption_policy priority priority_class_name readiness_gates "
         "resource_claims restart_policy runtime_class_name scheduler_name scheduling_gates "
         "security_context service_account service_account_name set_hostname_as_fqdn=setHostnameAsFQDN "
         "share_process_namespace subdomain termination_grace_period_seconds tolerations "
         "topology_spread_constraints volumes"),
    "V1PodTemplateSpec": ("metadata spec"),
    "V1Probe": ("_exec failure_threshold grpc http_get initial_delay_seconds period_seconds "
         "success_threshold tcp_socket termination_grace_period_seconds timeout_seconds"),
    "V1ResourceRequirements": ("claims limits requests"),
    "V1SeccompProfile": ("localhost_profile type!"),
    "V1SecretKeySelector": ("key! name optional"),
    "V1SecurityContext": ("allow_privilege_escalation app_armor_profile capabilities privileged proc_mount "
         "read_only_root_filesystem run_as_group run_as_non_root run_as_user se_linux_options "
         "seccomp_profile windows_options"),
    "V1Service": ("api_version kind metadata spec status"),
    "V1ServiceAccount": ("api_version automount_service_account_token image_pull_secrets kind metadata secrets"),
    "V1ServicePort": ("app_protocol name node_port port! protocol target_port"),
    "V1ServiceSpec": ("allocate_load_balancer_node_ports cluster_ip=clusterIP cluster_i_ps external_i_ps external_name "
         "external_traffic_policy health_check_node_port internal_traffic_policy ip_families "
         "ip_family_policy load_balancer_class load_balancer_ip=loadBalancerIP load_balancer_source_ranges ports "
         "publish_not_ready_addresses selector session_affinity session_affinity_config "
         "traffic_distribution type"),
    "V1TCPSocketAction": ("host port!"),
    "V1Toleration": ("effect key operator toleration_seconds value"),
    "V1Volume": ("aws_elastic_block_store azure_disk azure_file cephfs cinder config_map csi downward_api=downwardAPI "
         "empty_dir ephemeral fc flex_volume flocker gce_persistent_disk git_repo glusterfs "
         "host_path iscsi name! nfs persistent_volume_claim photon_persistent_disk portworx_volume "
         "projected quobyte rbd scale_io=scaleIO secret storageos vsphere_volume"),
    "V1VolumeMount": ("mount_path! mount_propagation name! read_only recursive_read_only sub_path sub_path_expr"),
    "V2CrossVersionObjectReference": ("api_version kind! name!"),
    "V2HorizontalPodAutoscaler": ("api_version kind metadata spec status"),
    "V2HorizontalPodAutoscalerSpec": ("behavior max_replicas! metrics min_replicas scale_target_ref!"),
    "V2MetricSpec": ("container_resource external object pods resource type!"),
    "V2MetricTarget": ("average_utilization average_value type! value"),
    "V2ResourceMetricSource": ("name! target!"),
}


def json_key(attr: str) -> str:
    """The client's attribute_map: snake_case → camelCase, a leading `_` (Python keywords) dropped."""
    head, *rest = attr.lstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Model:
    """A typed model: keyword arguments are its fields, anything else is a TypeError."""

    __slots__ = ("_values",)
    fields: tuple[tuple[str, str], ...] = ()  # (attribute, JSON key), in the client's order
    required: frozenset[str] = frozenset()

    def __init__(self, local_vars_configuration=None, **kwargs):
        known = {attr for attr, _ in self.fields}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        for attr in self.required:
            if kwargs.get(attr) is None:
                raise ValueError(f"Invalid value for `{attr}`, must not be `None`")
        self._values = kwargs

    def __getattr__(self, attr: str):
        try:
            values = object.__getattribute__(self, "_values")
        except AttributeError:
            raise AttributeError(attr) from None
        if attr in values:
            return values[attr]
        if any(a == attr for a, _ in type(self).fields):
            return None
        raise AttributeError(attr)

    def __setattr__(self, attr: str, value) -> None:
        if attr == "_values":
            object.__setattr__(self, attr, value)
        elif any(a == attr for a, _ in type(self).fields):
            self._values[attr] = value
        else:
            raise AttributeError(f"{type(self).__name__} has no field {attr!r}")


def _model(name: str, spec: str) -> type[Model]:
    fields, required = [], set()
    for token in spec.split():
        attr, _, key = token.rstrip("!").partition("=")
        fields.append((attr, key or json_key(attr)))
        if token.endswith("!"):
            required.add(attr)
    return type(name, (Model,), {"__slots__": (), "fields": tuple(fields), "required": frozenset(required)})


_classes: dict[str, type] = {}


def __getattr__(name: str):
    if name in MODELS:
        cls = _classes.get(name)
        if cls is None:
            cls = _classes[name] = _model(name, MODELS[name])
        return cls
    if name[:1] == "V" and name[1:2].isdigit():  # not in the table: the real client's model
        from kubernetes import client

        return getattr(client, name)
    raise AttributeError(name)


class Configuration:
    """Accepted for the client's signature; models here have nothing to configure."""


def sanitize(obj):
    """What `ApiClient().sanitize_for_serialization` returns for `obj`."""
    if obj is None or isinstance(obj, (str, int, float, bool, bytes)):
        return obj
    if isinstance(obj, list):
        return [sanitize(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(sanitize(item) for item in obj)
    if isinstance(obj, dict):
        return {key: sanitize(value) for key, value in obj.items()}
    if isinstance(obj, Model):
        values = obj._values
        return {key: sanitize(values[attr]) for attr, key in obj.fields if values.get(attr) is not None}
    if hasattr(obj, "openapi_types"):  # a real client model (see __getattr__)
        return {obj.attribute_map[attr]: sanitize(getattr(obj, attr)) for attr in obj.openapi_types
                if getattr(obj, attr) is not None}
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


class ApiClient:
    @staticmethod
    def sanitize_for_serialization(obj):
        return sanitize(obj)
