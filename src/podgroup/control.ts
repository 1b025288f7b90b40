// Doing: every API call the PodGroup controller makes, behind one interface (as KCM's podControl
// and its ControllerRevision/status clients), so the reconciler is unit-tested with a recording
// fake and the real one is exercised against the local cluster.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../api/podgroup.js';
import { errorMessage, isAlreadyExists, mergePatch, statusCode, type KubeClients } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';

export interface PodGroupControl {
  /** Creates a pod; a create without an answer is retried once under the same name. */
  createPod(namespace: string, pod: k8s.V1Pod): Promise<k8s.V1Pod>;
  /** Deletes a pod with a UID precondition. */
  deletePod(pod: k8s.V1Pod): Promise<void>;
  /** Strategic merge patch of a pod (adoption and release). */
  patchPod(pod: k8s.V1Pod, body: object): Promise<void>;
  createRevision(revision: k8s.V1ControllerRevision): Promise<k8s.V1ControllerRevision>;
  readRevision(namespace: string, name: string): Promise<k8s.V1ControllerRevision>;
  /**
   * JSON merge patch of a revision (adoption, release, renumbering). Not a strategic merge
   * patch: the API server re-encodes `data` for one and refuses it as a change to an immutable field.
   */
  patchRevision(revision: k8s.V1ControllerRevision, body: object): Promise<k8s.V1ControllerRevision>;
  deleteRevision(revision: k8s.V1ControllerRevision): Promise<void>;
  /** An uncached read of the PodGroup. */
  getPodGroup(namespace: string, name: string): Promise<PodGroup>;
  /**
   * Merge patch of the status subresource, conditional on the PodGroup's resourceVersion (as
   * UpdateStatus): a status computed from a stale cache is refused (409), never written over a
   * newer one.
   */
  patchPodGroupStatus(pg: PodGroup, status: object): Promise<void>;
  /** JSON Patch of the PodGroup (rollback: replace the template wholesale). */
  jsonPatchPodGroup(pg: PodGroup, ops: object[]): Promise<void>;
}

const strategicMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

export class KubePodGroupControl implements PodGroupControl {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly custom: k8s.CustomObjectsApi;

  constructor(
    clients: KubeClients,
    private readonly log: Logger,
  ) {
    this.core = clients.api(k8s.CoreV1Api);
    this.apps = clients.api(k8s.AppsV1Api);
    this.custom = clients.api(k8s.CustomObjectsApi);
  }

  /**
   * When no answer came back (the connection broke), the pod may exist: the same create is sent
   * once more, and AlreadyExists then means the first attempt worked. Counting it as failed
   * would lower expectations for a pod that still shows up, and the next sync would create one
   * too many (past maxSurge during a rollout).
   */
  async createPod(namespace: string, body: k8s.V1Pod): Promise<k8s.V1Pod> {
    try {
      return await this.core.createNamespacedPod({ namespace, body });
    } catch (err) {
      if (statusCode(err) !== undefined) {
        throw err;
      }
      this.log.info('pod create got no answer; sending it again', { pod: body.metadata?.name, error: errorMessage(err) });
      try {
        return await this.core.createNamespacedPod({ namespace, body });
      } catch (again) {
        if (isAlreadyExists(again)) {
          return body;
        }
        throw again;
      }
    }
  }

  async deletePod(pod: k8s.V1Pod): Promise<void> {
    await this.core.deleteNamespacedPod({
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      body: { preconditions: { uid: pod.metadata?.uid } },
    });
  }

  async patchPod(pod: k8s.V1Pod, body: object): Promise<void> {
    await this.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body }, strategicMergePatch);
  }

  createRevision(revision: k8s.V1ControllerRevision): Promise<k8s.V1ControllerRevision> {
    return this.apps.createNamespacedControllerRevision({ namespace: revision.metadata?.namespace ?? '', body: revision });
  }

  readRevision(namespace: string, name: string): Promise<k8s.V1ControllerRevision> {
    return this.apps.readNamespacedControllerRevision({ name, namespace });
  }

  patchRevision(revision: k8s.V1ControllerRevision, body: object): Promise<k8s.V1ControllerRevision> {
    return this.apps.patchNamespacedControllerRevision(
      { name: revision.metadata?.name ?? '', namespace: revision.metadata?.namespace ?? '', body },
      mergePatch,
    );
  }

  async deleteRevision(revision: k8s.V1ControllerRevision): Promise<void> {
    await this.apps.deleteNamespacedControllerRevision({ name: revision.metadata?.name ?? '', namespace: revision.metadata?.namespace ?? '' });
  }

  async getPodGroup(namespace: string, name: string): Promise<PodGroup> {
    return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as PodGroup;
  }

  async patchPodGroupStatus(pg: PodGroup, status: object): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: pg.metadata?.namespace ?? '',
        plural: PLURAL,
        name: pg.metadata?.name ?? '',
        body: { metadata: { resourceVersion: pg.metadata?.resourceVersion }, status },
      },
      mergePatch,
    );
  }

  async jsonPatchPodGroup(pg: PodGroup, ops: object[]): Promise<void> {
    await this.custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: pg.metadata?.namespace ?? '',
      plural: PLURAL,
      name: pg.metadata?.name ?? '',
      body: ops,
    });
  }
}
