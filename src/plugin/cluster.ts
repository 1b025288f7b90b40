// Doing for `kubectl podgroup`: the API calls the verbs make, behind an interface so the verbs'
// flow is unit-tested with a recording fake. Kubeconfig, --context and the namespace resolve as
// kubectl resolves them.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../api/podgroup.js';
import { PODGROUP_NAME_LABEL } from '../api/podgroup.js';

/** The API's answer as kubectl prints it: `Error from server (NotFound): …`. */
export class ServerError extends Error {}

export interface PodGroupWatch {
  /** Resolves when the watch ends (closed by the server, aborted, or failed). */
  done: Promise<void>;
  abort(): void;
}

export interface PluginClient {
  readonly namespace: string;
  getPodGroup(name: string): Promise<PodGroup>;
  /** Calls onChange for every ADDED/MODIFIED/DELETED of that one PodGroup from resourceVersion on. */
  watchPodGroup(name: string, resourceVersion: string, onChange: (type: string, pg: PodGroup) => void): Promise<PodGroupWatch>;
  patchPodGroup(name: string, mergePatch: object): Promise<PodGroup>;
  listRevisions(pg: PodGroup): Promise<k8s.V1ControllerRevision[]>;
  listPods(pg: PodGroup): Promise<k8s.V1Pod[]>;
  /** Events about the PodGroup and the named pods. */
  listEvents(pg: PodGroup, podNames: Set<string>): Promise<k8s.CoreV1Event[]>;
}

export interface ConnectionFlags {
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
}

/** Loads the kubeconfig as kubectl does: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else in-cluster. */
export function loadConfig(flags: ConnectionFlags): { kc: k8s.KubeConfig; namespace: string } {
  const kc = new k8s.KubeConfig();
  if (flags.kubeconfig !== undefined) {
    kc.loadFromFile(flags.kubeconfig);
  } else {
    kc.loadFromDefault();
  }
  if (flags.context !== undefined) {
    if (kc.getContextObject(flags.context) === null) {
      throw new Error(`context ${JSON.stringify(flags.context)} does not exist`);
    }
    kc.setCurrentContext(flags.context);
  }
  const namespace = flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { kc, namespace };
}

/** Rethrows a client-node error as kubectl words it; other errors pass through. */
export function serverError(err: unknown): unknown {
  if (err instanceof k8s.ApiException) {
    // Without a Status body (e.g. the CRD is not installed: a bare 404), kubectl's generic words.
    let reason = err.code === 404 ? 'NotFound' : '';
    let message = err.code === 404 ? 'the server could not find the requested resource' : `the server responded with HTTP ${err.code}`;
    if (typeof err.body === 'string') {
      try {
        const status = JSON.parse(err.body) as { reason?: unknown; message?: unknown };
        reason = typeof status.reason === 'string' ? status.reason : '';
        message = typeof status.message === 'string' ? status.message : message;
      } catch {
        // not a Status: keep the HTTP code
      }
    }
    return new ServerError(`Error from server${reason === '' ? '' : ` (${reason})`}: ${message}`);
  }
  return err;
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw serverError(err);
  }
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export function kubePluginClient(kc: k8s.KubeConfig, namespace: string): PluginClient {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const base = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
  return {
    namespace,
    getPodGroup: (name) => call(async () => (await custom.getNamespacedCustomObject({ ...base, name })) as PodGroup),
    patchPodGroup: (name, body) => call(async () => (await custom.patchNamespacedCustomObject({ ...base, name, body }, mergePatch)) as PodGroup),
    watchPodGroup: async (name, resourceVersion, onChange) => {
      let finish: () => void = () => undefined;
      const done = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const controller = await call(() =>
        new k8s.Watch(kc).watch(
          `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: false },
          (type: string, obj: PodGroup) => onChange(type, obj),
          () => finish(),
        ),
      );
      return { done, abort: () => controller.abort() };
    },
    listRevisions: (pg) =>
      call(async () =>
        (await apps.listNamespacedControllerRevision({ namespace, labelSelector: `${PODGROUP_NAME_LABEL}=${pg.metadata?.name ?? ''}` })).items.filter((r) =>
          r.metadata?.ownerReferences?.some((o) => o.uid === pg.metadata?.uid && o.controller === true),
        ),
      ),
    listPods: (pg) =>
      call(async () =>
        (await core.listNamespacedPod({ namespace })).items.filter((p) =>
          p.metadata?.ownerReferences?.some((o) => o.uid === pg.metadata?.uid && o.controller === true),
        ),
      ),
    listEvents: (pg, podNames) =>
      call(async () =>
        (await core.listNamespacedEvent({ namespace })).items.filter(
          (e) =>
            (e.involvedObject.kind === 'PodGroup' && e.involvedObject.uid === pg.metadata?.uid) ||
            (e.involvedObject.kind === 'Pod' && podNames.has(e.involvedObject.name ?? '')),
        ),
      ),
  };
}
