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
  metadata?: { resourceVersion?: string; _continue?: string };
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
export async function listAll<T extends k8s.KubernetesObject>(
  resource: ResourceType<T>,
  options: ListOptions,
): Promise<k8s.KubernetesListObject<T>> {
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
    continueToken = page.metadata?._continue || undefined;
  } while (continueToken !== undefined);
  return { apiVersion: resource.apiVersion, kind: `${resource.kind}List`, metadata: { resourceVersion }, items };
}

type ListParams = { labelSelector?: string; fieldSelector?: string; limit: number; _continue?: string };

function builtIn<T extends k8s.KubernetesObject>(
  name: string,
  apiVersion: string,
  kind: string,
  path: string,
  list: (params: ListParams) => Promise<ListPage<T>>,
  namespaced?: { path: (namespace: string) => string; list: (namespace: string, params: ListParams) => Promise<ListPage<T>> },
): ResourceType<T> {
  return {
    name,
    apiVersion,
    kind,
    path,
    listPage: (o) => list({ labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, _continue: o.continueToken }),
    inNamespace:
      namespaced === undefined
        ? undefined
        : (namespace) => builtIn(`${name} in ${namespace}`, apiVersion, kind, namespaced.path(namespace), (p) => namespaced.list(namespace, p)),
  };
}

export function podResource(clients: KubeClients): ResourceType<k8s.V1Pod> {
  const core = clients.api(k8s.CoreV1Api);
  return builtIn('pods', 'v1', 'Pod', '/api/v1/pods', (p) => core.listPodForAllNamespaces(p), {
    path: (ns) => `/api/v1/namespaces/${ns}/pods`,
    list: (namespace, p) => core.listNamespacedPod({ namespace, ...p }),
  });
}

export function nodeResource(clients: KubeClients): ResourceType<k8s.V1Node> {
  const core = clients.api(k8s.CoreV1Api);
  return builtIn('nodes', 'v1', 'Node', '/api/v1/nodes', (p) => core.listNode(p));
}

export function configMapResource(clients: KubeClients): ResourceType<k8s.V1ConfigMap> {
  const core = clients.api(k8s.CoreV1Api);
  return builtIn('configmaps', 'v1', 'ConfigMap', '/api/v1/configmaps', (p) => core.listConfigMapForAllNamespaces(p), {
    path: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
    list: (namespace, p) => core.listNamespacedConfigMap({ namespace, ...p }),
  });
}

export function namespaceResource(clients: KubeClients): ResourceType<k8s.V1Namespace> {
  const core = clients.api(k8s.CoreV1Api);
  return builtIn('namespaces', 'v1', 'Namespace', '/api/v1/namespaces', (p) => core.listNamespace(p));
}

export function controllerRevisionResource(clients: KubeClients): ResourceType<k8s.V1ControllerRevision> {
  const apps = clients.api(k8s.AppsV1Api);
  return builtIn('controllerrevisions.apps', 'apps/v1', 'ControllerRevision', '/apis/apps/v1/controllerrevisions', (p) => apps.listControllerRevisionForAllNamespaces(p), {
    path: (ns) => `/apis/apps/v1/namespaces/${ns}/controllerrevisions`,
    list: (namespace, p) => apps.listNamespacedControllerRevision({ namespace, ...p }),
  });
}

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
      const params = { group: crd.group, version: crd.version, plural: crd.plural, labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, _continue: o.continueToken };
      return (namespace === undefined ? await custom.listClusterCustomObject(params) : await custom.listNamespacedCustomObject({ ...params, namespace })) as ListPage<T>;
    },
    inNamespace: crd.clusterScoped === true || namespace !== undefined ? undefined : (ns) => customResource<T>(clients, crd, ns),
  };
}
