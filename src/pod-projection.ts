// What this process's pod cache keeps of each pod. The PodGroup controller, the scheduler
// extender, the webhook's missed-injection check and the event recorder read a pod's metadata,
// its status, and of its spec only the node, the scheduler, the containers' names, images and
// requests and the pod overhead. Volumes, env, probes, tolerations, affinity, security contexts —
// most of a pod's bytes — are never read from the cache, so they are not kept.
// A new reader of another spec field adds it here; test/unit/pod-projection.test.ts runs the
// readers on full and on projected pods.
import type * as k8s from '@kubernetes/client-node';

function slimContainer(c: k8s.V1Container): k8s.V1Container {
  const out: k8s.V1Container = { name: c.name };
  if (c.image !== undefined) {
    out.image = c.image;
  }
  if (c.resources !== undefined) {
    out.resources = c.resources;
  }
  if (c.restartPolicy !== undefined) {
    out.restartPolicy = c.restartPolicy;
  }
  return out;
}

/** The pod as the cache keeps it: metadata and status whole, the spec's read fields only. */
export function slimPod(pod: k8s.V1Pod): k8s.V1Pod {
  const spec = pod.spec;
  if (spec === undefined) {
    return pod;
  }
  const slim: k8s.V1PodSpec = { containers: spec.containers.map(slimContainer) };
  if (spec.initContainers !== undefined) {
    slim.initContainers = spec.initContainers.map(slimContainer);
  }
  if (spec.nodeName !== undefined) {
    slim.nodeName = spec.nodeName;
  }
  if (spec.schedulerName !== undefined) {
    slim.schedulerName = spec.schedulerName;
  }
  if (spec.overhead !== undefined) {
    slim.overhead = spec.overhead;
  }
  const out: k8s.V1Pod = { spec: slim };
  if (pod.apiVersion !== undefined) {
    out.apiVersion = pod.apiVersion;
  }
  if (pod.kind !== undefined) {
    out.kind = pod.kind;
  }
  if (pod.metadata !== undefined) {
    out.metadata = pod.metadata;
  }
  if (pod.status !== undefined) {
    out.status = pod.status;
  }
  return out;
}
