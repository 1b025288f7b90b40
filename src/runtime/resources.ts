// How to list and watch a kind: its collection path, a paginated list and a watch, both as plain
// JSON through the throttled, instrumented clients. Built-in kinds the runtime commonly needs,
// plus any custom resource.
import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from './kube-client.js';
import type { WatchEvent } from './watch-stream.js';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListPage<T> {
  items: T[];
  /** `continue` as the API server sends it; `_continue` as client-node's typed lists name it. */
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

/** The query of a watch request (ListOptions with watch=true), as the API server names it. */
export interface WatchOptions extends ListOptions {
  resourceVersion: string;
  resourceVersionMatch?: 'NotOlderThan';
  /** WatchList: start with the current state as ADDED events, ended by a marked bookmark. */
  sendInitialEvents?: boolean;
  allowWatchBookmarks: boolean;
  /** The server ends the watch cleanly after this long. */
  timeoutSeconds: number;
}

export interface ResourceType<T extends k8s.KubernetesObject> {
  /** A short, unique name for logs and metrics, e.g. "pods" or "podgroups.example.io". */
  name: string;
  apiVersion: string;
  kind: string;
  /** The cluster-wide collection path, e.g. /api/v1/pods. */
  path: string;
  listPage(options: ListOptions & { limit: number; continueToken?: string }): Promise<ListPage<T>>;
  /** Opens a watch; resolves once the server answered, with its events, until it ends or `signal` aborts. */
  watch(options: WatchOptions, signal: AbortSignal): Promise<AsyncIterable<WatchEvent<T>>>;
  /** For a namespaced kind: the same kind listed and watched in one namespace only (a Role suffices). */
  inNamespace?(namespace: string): ResourceType<T>;
}

const PAGE_SIZE = 500;

/**
 * Every page of a list, one at a time as it arrives (so a caller can apply a page while the next
 * is not yet asked for); the last page's resourceVersion is that of the consistent snapshot.
 */
export async function* listPages<T extends k8s.KubernetesObject>(resource: ResourceType<T>, options: ListOptions): AsyncGenerator<ListPage<T>> {
  let continueToken: string | undefined;
  do {
    const page = await resource.listPage({ ...options, limit: PAGE_SIZE, continueToken });
    for (const item of page.items) {
      // List items carry no apiVersion/kind; restore them so every cached object is self-describing.
      item.apiVersion ??= resource.apiVersion;
      item.kind ??= resource.kind;
    }
    continueToken = page.metadata?.continue || page.metadata?._continue || undefined;
    yield page;
  } while (continueToken !== undefined);
}

/**
 * A kind listed and watched as plain JSON (KubeClients.getJson / watchJson), not through
 * client-node's typed deserializer; `namespacedPath` gives a namespaced kind its per-namespace form.
 */
function restResource<T extends k8s.KubernetesObject>(
  clients: KubeClients,
  name: string,
  apiVersion: string,
  kind: string,
  path: string,
  namespacedPath?: (namespace: string) => string,
): ResourceType<T> {
  return {
    name,
    apiVersion,
    kind,
    path,
    listPage: (o) =>
      clients.getJson<ListPage<T>>(path, { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, continue: o.continueToken }),
    watch: (o, signal) => clients.watchJson<T>(path, { ...o }, signal),
    inNamespace:
      namespacedPath === undefined ? undefined : (namespace) => restResource(clients, `${name} in ${namespace}`, apiVersion, kind, namespacedPath(namespace)),
  };
}

export const podResource = (clients: KubeClients): ResourceType<k8s.V1Pod> =>
  restResource(clients, 'pods', 'v1', 'Pod', '/api/v1/pods', (ns) => `/api/v1/namespaces/${ns}/pods`);
export const nodeResource = (clients: KubeClients): ResourceType<k8s.V1Node> => restResource(clients, 'nodes', 'v1', 'Node', '/api/v1/nodes');
export const configMapResource = (clients: KubeClients): ResourceType<k8s.V1ConfigMap> =>
  restResource(clients, 'configmaps', 'v1', 'ConfigMap', '/api/v1/configmaps', (ns) => `/api/v1/namespaces/${ns}/configmaps`);
export const namespaceResource = (clients: KubeClients): ResourceType<k8s.V1Namespace> =>
  restResource(clients, 'namespaces', 'v1', 'Namespace', '/api/v1/namespaces');
export const controllerRevisionResource = (clients: KubeClients): ResourceType<k8s.V1ControllerRevision> =>
  restResource(
    clients,
    'controllerrevisions.apps',
    'apps/v1',
    'ControllerRevision',
    '/apis/apps/v1/controllerrevisions',
    (ns) => `/apis/apps/v1/namespaces/${ns}/controllerrevisions`,
  );

export interface CustomResourceName {
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** Cluster-scoped kinds have no per-namespace form. Default: namespaced. */
  clusterScoped?: boolean;
}

/** A namespaced or cluster-scoped custom resource, listed across all namespaces (or in one). */
export function customResource<T extends k8s.KubernetesObject>(clients: KubeClients, crd: CustomResourceName, namespace?: string): ResourceType<T> {
  const name = `${crd.plural}.${crd.group}`;
  const base = `/apis/${crd.group}/${crd.version}`;
  const apiVersion = `${crd.group}/${crd.version}`;
  // The caller's T describes what the CRD stores.
  return namespace !== undefined
    ? restResource<T>(clients, `${name} in ${namespace}`, apiVersion, crd.kind, `${base}/namespaces/${namespace}/${crd.plural}`)
    : restResource<T>(
        clients,
        name,
        apiVersion,
        crd.kind,
        `${base}/${crd.plural}`,
        crd.clusterScoped === true ? undefined : (ns) => `${base}/namespaces/${ns}/${crd.plural}`,
      );
}
