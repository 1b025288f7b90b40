// Doing: every API call the PodGroup controller makes, behind one interface (as KCM's podControl
// and its ControllerRevision/status clients), so the reconciler is unit-tested with a recording
// fake and the real one is exercised against the local cluster.
import type * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../api/podgroup.js';
import { errorMessage, isAlreadyExists, PATCH_TYPE, statusCode, type KubeClients } from '../runtime/kube-client.js';
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

/** Where the API serves one kind in a namespace: /api/v1/namespaces/NS/pods, /apis/GROUP/VERSION/namespaces/NS/PLURAL. */
const collection = (apiPath: string, namespace: string, plural: string): string => `${apiPath}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
const CORE = '/api/v1';
const APPS = '/apis/apps/v1';
const PODGROUPS = `/apis/${GROUP}/${VERSION}`;

/**
 * The real control: plain JSON requests (KubeClients.requestJson; requestOutcome where only the
 * outcome counts, so the object written back is not even parsed). Everything it sends is already
 * plain JSON (built here or read from the caches), and answers are read as the informers keep
 * objects, so client-node's typed (de)serialization would only add a walk over every field of
 * every pod.
 */
export class KubePodGroupControl implements PodGroupControl {
  constructor(
    private readonly clients: KubeClients,
    private readonly log: Logger,
  ) {}

  /**
   * When no answer came back (the connection broke), the pod may exist: the same create is sent
   * once more, and AlreadyExists then means the first attempt worked. Counting it as failed
   * would lower expectations for a pod that still shows up, and the next sync would create one
   * too many (past maxSurge during a rollout).
   */
  async createPod(namespace: string, body: k8s.V1Pod): Promise<k8s.V1Pod> {
    const create = (): Promise<k8s.V1Pod> => this.clients.requestJson<k8s.V1Pod>('POST', collection(CORE, namespace, 'pods'), { body });
    try {
      return await create();
    } catch (err) {
      if (statusCode(err) !== undefined) {
        throw err;
      }
      this.log.info('pod create got no answer; sending it again', { pod: body.metadata?.name, error: errorMessage(err) });
      try {
        return await create();
      } catch (again) {
        if (isAlreadyExists(again)) {
          return body;
        }
        throw again;
      }
    }
  }

  async deletePod(pod: k8s.V1Pod): Promise<void> {
    await this.clients.requestOutcome('DELETE', objectPath(CORE, 'pods', pod), { body: { preconditions: { uid: pod.metadata?.uid } } });
  }

  async patchPod(pod: k8s.V1Pod, body: object): Promise<void> {
    await this.clients.requestOutcome('PATCH', objectPath(CORE, 'pods', pod), { body, contentType: PATCH_TYPE.strategicMerge });
  }

  createRevision(revision: k8s.V1ControllerRevision): Promise<k8s.V1ControllerRevision> {
    return this.clients.requestJson('POST', collection(APPS, revision.metadata?.namespace ?? '', 'controllerrevisions'), { body: revision });
  }

  readRevision(namespace: string, name: string): Promise<k8s.V1ControllerRevision> {
    return this.clients.requestJson('GET', `${collection(APPS, namespace, 'controllerrevisions')}/${encodeURIComponent(name)}`);
  }

  patchRevision(revision: k8s.V1ControllerRevision, body: object): Promise<k8s.V1ControllerRevision> {
    return this.clients.requestJson('PATCH', objectPath(APPS, 'controllerrevisions', revision), { body, contentType: PATCH_TYPE.merge });
  }

  async deleteRevision(revision: k8s.V1ControllerRevision): Promise<void> {
    await this.clients.requestOutcome('DELETE', objectPath(APPS, 'controllerrevisions', revision));
  }

  getPodGroup(namespace: string, name: string): Promise<PodGroup> {
    return this.clients.requestJson('GET', `${collection(PODGROUPS, namespace, PLURAL)}/${encodeURIComponent(name)}`);
  }

  async patchPodGroupStatus(pg: PodGroup, status: object): Promise<void> {
    await this.clients.requestOutcome('PATCH', `${objectPath(PODGROUPS, PLURAL, pg)}/status`, {
      body: { metadata: { resourceVersion: pg.metadata?.resourceVersion }, status },
      contentType: PATCH_TYPE.merge,
    });
  }

  async jsonPatchPodGroup(pg: PodGroup, ops: object[]): Promise<void> {
    await this.clients.requestOutcome('PATCH', objectPath(PODGROUPS, PLURAL, pg), { body: ops, contentType: PATCH_TYPE.json });
  }
}

/** The path of one namespaced object of a kind. */
const objectPath = (apiPath: string, plural: string, obj: k8s.KubernetesObject): string =>
  `${collection(apiPath, obj.metadata?.namespace ?? '', plural)}/${encodeURIComponent(obj.metadata?.name ?? '')}`;
