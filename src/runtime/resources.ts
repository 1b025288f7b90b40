// How to list and watch a kind: its collection path and a paginated list function that goes
// through the throttled, instrumented clients. Built-in kinds the runtime commonly needs, plus
// any custom resource.
import * as k8s from '@kubernetes/client-node';
import type { KubeClients } from './kube-client.js';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListPage<T> {
  items: T[];
  /** `continue` as the API server sends it; `_continue` as client-node's typed lists name it. */
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

export interface ResourceType<T extends k8s.KubernetesObject> {
  /** A short, unique name for logs and metrics, e.g. "pods" or "podgroups.example.io". */
  name: string;
  apiVersion: string;
  kind: string;
  /** The cluster-wide collection path, e.g. /api/v1/pods. */
  path: string;
  listPage(options: ListOptions & { limit: number; continueToken?: string }): Promise<ListPage<T>>;
  /** For a namespaced kind: the same kind listed and watched in one namespace only (a Role suffices). */
  inNamespace?(namespace: string): ResourceType<T>;
}

const PAGE_SIZE = 500;

/** Lists every page; the result carries the resourceVersion of the (consistent) snapshot. */
export async function listAll<T extends k8s.KubernetesObject>(resource: ResourceType<T>, options: ListOptions): Promise<k8s.KubernetesListObject<T>> {
  const items: T[] = [];
  let continueToken: string | undefined;
  let resourceVersion = '';
  do {
    const page = await resource.listPage({ ...options, limit: PAGE_SIZE, continueToken });
    for (const item of page.items) {
      // List items carry no apiVersion/kind; restore them so every cached object is self-describing.
      item.apiVersion ??= resource.apiVersion;
      item.kind ??= resource.kind;
      items.push(item);
    }
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    continueToken = page.metadata?.continue || page.metadata?._continue || undefined;
  } while (continueToken !== undefined);
  return { apiVersion: resource.apiVersion, kind: `${resource.kind}List`, metadata: { resourceVersion }, items };
}

/**
 * A built-in kind listed as plain JSON (KubeClients.getJson), as its watch events arrive;
 * `namespacedPath` gives a namespaced kind its per-namespace form.
 */
function builtIn<T extends k8s.KubernetesObject>(
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
    inNamespace:
      namespacedPath === undefined ? undefined : (namespace) => builtIn(clients, `${name} in ${namespace}`, apiVersion, kind, namespacedPath(namespace)),
  };
}

export const podResource = (clients: KubeClients): ResourceType<k8s.V1Pod> =>
  builtIn(clients, 'pods', 'v1', 'Pod', '/api/v1/pods', (ns) => `/api/v1/namespaces/${ns}/pods`);
export const nodeResource = (clients: KubeClients): ResourceType<k8s.V1Node> => builtIn(clients, 'nodes', 'v1', 'Node', '/api/v1/nodes');
export const configMapResource = (clients: KubeClients): ResourceType<k8s.V1ConfigMap> =>
  builtIn(clients, 'configmaps', 'v1', 'ConfigMap', '/api/v1/configmaps', (ns) => `/api/v1/namespaces/${ns}/configmaps`);
export const namespaceResource = (clients: KubeClients): ResourceType<k8s.V1Namespace> =>
  builtIn(clients, 'namespaces', 'v1', 'Namespace', '/api/v1/namespaces');
export const controllerRevisionResource = (clients: KubeClients): ResourceType<k8s.V1ControllerRevision> =>
  builtIn(
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
  const custom = clients.api(k8s.CustomObjectsApi);
  const name = `${crd.plural}.${crd.group}`;
  const base = `/apis/${crd.group}/${crd.version}`;
  return {
    name: namespace === undefined ? name : `${name} in ${namespace}`,
    apiVersion: `${crd.group}/${crd.version}`,
    kind: crd.kind,
    path: namespace === undefined ? `${base}/${crd.plural}` : `${base}/namespaces/${namespace}/${crd.plural}`,
    // The custom objects API is untyped; the caller's T describes what the CRD stores.
    listPage: async (o) => {
      const params = {
        group: crd.group,
        version: crd.version,
        plural: crd.plural,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        limit: o.limit,
        _continue: o.continueToken,
      };
      return (
        namespace === undefined ? await custom.listClusterCustomObject(params) : await custom.listNamespacedCustomObject({ ...params, namespace })
      ) as ListPage<T>;
    },
    inNamespace: crd.clusterScoped === true || namespace !== undefined ? undefined : (ns) => customResource<T>(clients, crd, ns),
  };
}
