"""Kubeflow Pipelines back end: per project, the KFP v2 IR and the Kubernetes-native objects.

    generated/kfp/<team>/<project>/pipeline.yaml           the IR, as kfp's compiler writes it
                                                            (for `kfp` users; never synced)
    generated/kfp/<team>/<project>/monitor-<serving>.yaml  a continuous evaluation's IR
    generated/deploy/pipelines/<team>/<project>/
      pipeline-<team>-<project>.yaml                        Pipeline
      pipelineversion-<team>-<project>-<hash>.yaml          PipelineVersion (immutable)
      pipeline-<team>-<project>-<serving>-monitor.yaml      the same for each serving target with
      pipelineversion-<…>-monitor-<hash>.yaml               `monitoring.evaluate` (docs/MONITORING.md)

KFP's webhook refuses any change to an existing PipelineVersion, so its name carries a content
hash: a changed pipeline gets a new PipelineVersion (Argo CD prunes the old one; its IR stays in
Git history and runs keep their own copy), an unchanged pipeline keeps its name and nothing syncs.
"""

from __future__ import annotations

import hashlib
import json

from ...frontend.loader import LoadedProject
from ...frontend.models import Evaluation
from ...middle import refs
from ...middle.check import CheckedRepository
from ...middle.monitoring import monitored_environments
from ...middle.storage import pipeline_service_account
from ... import layout
from .. import Document
from .ir import ARTIFACT_TYPES, PipelineBuilder, Upstream

API_VERSION = "pipelines.kubeflow.org/v2beta1"
HASH_LENGTH = 10
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlopsc"}
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# On the Pipeline (never the immutable PipelineVersion): the ServiceAccount the runs mlopsc makes
# (recurring runs) use, from mlopsc.yaml's storage; KFP itself does not read it (docs/KFP.md).
RUN_SERVICE_ACCOUNT = "mlopsc.dev/run-service-account"


def emit(checked: CheckedRepository) -> list[Document]:
    return [doc for unit in units(checked) for doc in emit_unit(checked, unit)]


def units(checked: CheckedRepository) -> list[str]:
    """What emit_unit can make on its own (compiler/build.py spreads them over processes)."""
    return [project.key for project in checked.projects]


def emit_unit(checked: CheckedRepository, unit: str) -> list[Document]:
    project = checked.lineage.projects[unit]
    spec = project.model.spec
    # Nothing to train or evaluate, no pipeline (kfp refuses a pipeline without tasks, and
    # importing data nobody reads is no pipeline either).
    return project_documents(checked, project) if spec.steps or spec.evaluations else []


def project_documents(checked: CheckedRepository, project: LoadedProject) -> list[Document]:
    model = project.model
    team, name = model.metadata.team, model.metadata.name
    pipeline = _builder(checked, project).build()
    documents = _pipeline_documents(checked, project, pipeline, layout.kfp_ir_path(team, name), model.key,
                                    model.metadata.description)
    for serving in sorted(model.spec.serving):
        documents += monitor_documents(checked, project, serving)
    return documents


def _builder(checked: CheckedRepository, project: LoadedProject) -> PipelineBuilder:
    config = checked.config
    return PipelineBuilder(project.model, upstreams(checked, project), config.kubeflow.pipelineRoot,
                           config.kubeflow.releaseImage, config.accelerators.nodeLabel, config.gitops)


def monitor_documents(checked: CheckedRepository, project: LoadedProject, serving: str) -> list[Document]:
    """The `<…>-monitor` pipeline of a serving target with `monitoring.evaluate`, if it watches an
    environment (one with a release) and can report somewhere."""
    target = project.model.spec.serving[serving]
    environments = monitored_environments(checked.config, target)
    pushgateway = checked.config.monitoring.pushgateway
    if target.monitoring is None or target.monitoring.evaluate is None or not environments or not pushgateway:
        return []
    releases = [(env, target.environments[env].release) for env in environments]
    pipeline = _builder(checked, project).build_monitor(serving, releases, pushgateway)
    team, name = project.model.metadata.team, project.model.metadata.name
    return _pipeline_documents(checked, project, pipeline, layout.kfp_monitor_ir_path(team, name, serving),
                               f"{project.key} {serving} monitor", pipeline.spec["pipelineInfo"]["description"])


def _pipeline_documents(checked: CheckedRepository, project: LoadedProject, pipeline, ir_path: str,
                        display_name: str, description: str | None) -> list[Document]:
    config, model = checked.config, project.model
    team, name = model.metadata.team, model.metadata.name
    version_spec: dict = {"pipelineName": pipeline.name, "pipelineSpec": pipeline.spec}
    if pipeline.platform is not None:
        version_spec["platformSpec"] = pipeline.platform
    if description:
        version_spec["description"] = description
    # The version name appears inside the pipeline it names (the release task records it in the
    # evidence), so the hash is taken with VERSION_TOKEN in its place and the name put in after.
    canonical = json.dumps(version_spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    version = f"{pipeline.name}-{hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]}"
    pipeline.set_version_name(version)
    version_spec["displayName"] = version

    namespace = layout.kubeflow_namespace(config, team)

    def metadata(object_name: str, wave: str) -> dict:
        return {"annotations": {SYNC_WAVE: wave, "mlopsc.dev/spec": project.path},
                "labels": {**MANAGED_BY, "mlopsc.dev/project": name, "mlopsc.dev/team": team},
                "name": object_name, "namespace": namespace}

    pipeline_metadata = metadata(pipeline.name, "0")  # the webhook wants the Pipeline before its versions
    run_as = pipeline_service_account(config, team)
    if run_as is not None:
        pipeline_metadata["annotations"][RUN_SERVICE_ACCOUNT] = run_as
    pipeline_object = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": pipeline_metadata,
                       "spec": {"displayName": display_name, **({"description": description} if description else {})}}
    version_object = {"apiVersion": API_VERSION, "kind": "PipelineVersion",
                      "metadata": metadata(version, "1"), "spec": version_spec}
    ir_documents = [pipeline.spec] + ([pipeline.platform] if pipeline.platform is not None else [])
    folder = layout.pipelines_dir(team, name)
    return [
        Document(ir_path, ir_documents, "yaml-stream", header=pipeline.header,
                 sort_keys=True, owner=model.key),
        # Both objects' natural field order is the sorted one, as kfp writes them too.
        Document(f"{folder}/{layout.object_filename('Pipeline', pipeline.name)}", pipeline_object,
                 sort_keys=True, owner=model.key),
        Document(f"{folder}/{layout.object_filename('PipelineVersion', version)}", version_object,
                 sort_keys=True, owner=model.key),
    ]


def upstreams(checked: CheckedRepository, project: LoadedProject) -> dict[str, Upstream]:
    """What each cross-project input of `project` imports, by the canonical reference."""
    spec = project.model.spec
    texts = [t for item in (*spec.steps.values(), *spec.evaluations.values()) for t in item.inputs.values()]
    texts += [item.model for item in spec.evaluations.values() if isinstance(item, Evaluation)]
    texts += [target.model for target in spec.serving.values()]
    found: dict[str, Upstream] = {}
    for text in texts:
        ref = refs.parse_ref(text)
        if ref is None or ref.project in (None, project.key):
            continue
        canonical = f"{ref.project}:{ref.local}"
        if canonical not in found:
            found[canonical] = _upstream(checked, canonical, ref)
    return found


def _upstream(checked: CheckedRepository, canonical: str, ref: refs.Ref) -> Upstream:
    producer = checked.lineage.projects[ref.project]
    if ref.source is not None:
        source = producer.model.spec.sources[ref.source]
        metadata = {"project": ref.project, "version": str(source.version)}
        if source.format:
            metadata["format"] = source.format
        return Upstream(canonical, ARTIFACT_TYPES["dataset"], source.uri, metadata)
    # A consumer wants the producer's current release: of the serving targets that serve this
    # artifact, the release furthest down the promotion order (production before staging);
    # ties go to the first target by name. Canaries are trials, never "current".
    graph = checked.lineage.graph
    artifact = ref.node_id(ref.project)
    environments = list(checked.config.environments)
    best = None
    # Only the producer's own targets: another project may serve the same model, but its releases
    # say nothing about what the producer blessed.
    for serving in sorted(s for s in graph.successors(artifact)
                          if graph.edges[artifact, s]["kind"] == "serves" and graph.nodes[s]["project"] == ref.project):
        target_name = graph.nodes[serving]["label"]
        target = producer.model.spec.serving[target_name]
        for rank, env in enumerate(environments):
            se = target.environments.get(env)
            if se is not None and se.release is not None and (best is None or rank > best[0]):
                best = (rank, target_name, env, se.release)
    title = ARTIFACT_TYPES[graph.nodes[artifact]["type"]]
    if best is None:
        return Upstream(canonical, title, None, {"project": ref.project})
    _, target_name, env, release = best
    return Upstream(canonical, title, release.uri,
                    {"digest": release.digest, "environment": env, "project": ref.project,
                     "serving": target_name})


