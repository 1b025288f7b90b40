// Generates crds/podgroup.yaml: our own fields (podgroup-schema.ts) plus a complete pod
// template schema expanded from a real API server's OpenAPI v3 (so descriptions and types are
// exactly Kubernetes' own, for the version we run).
//
// Run it with `npm run generate` (hack/crd/main.ts); the e2e suite checks the committed file
// is what the local cluster's OpenAPI produces.
import { request } from 'node:https';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../control-plane/paths.js';
import { podGroupCrd, type Schema } from './podgroup-schema.js';

export const CRD_FILE = join(REPO_ROOT, 'crds', 'podgroup.yaml');
const REF_PREFIX = '#/components/schemas/';

/** Keys a structural CRD schema may keep from the upstream OpenAPI. */
const KEPT = new Set([
  'description',
  'type',
  'format',
  'properties',
  'items',
  'additionalProperties',
  'required',
  'enum',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

/**
 * How server-side apply merges a list of a built-in type, as markers a CRD schema can carry.
 * The API server reads x-kubernetes-list-type first and, where a list has none, its
 * strategic-merge-patch strategy: "merge" with a merge key is a map keyed by it, "merge" without
 * one a set (kube-openapi's schemaconv). A CRD reads only the list-type markers, so the patch
 * strategy is spelled as them here; without this every list of the template is atomic and a
 * second field manager's change to one container conflicts with the next apply of the whole list.
 */
export function listMarkers(node: Schema): Schema {
  const listType = node['x-kubernetes-list-type'];
  if (listType !== undefined) {
    const keys = node['x-kubernetes-list-map-keys'];
    return listType === 'map' ? { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': keys } : { 'x-kubernetes-list-type': listType };
  }
  const strategy = String(node['x-kubernetes-patch-strategy'] ?? '').split(',');
  if (!strategy.includes('merge')) {
    return {};
  }
  const key = node['x-kubernetes-patch-merge-key'];
  return typeof key === 'string' ? { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] } : { 'x-kubernetes-list-type': 'set' };
}

const SPECIAL: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': {
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    'x-kubernetes-int-or-string': true,
    pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
};

/** The template's metadata: what kube-controller-manager copies from a template to its pods. */
const TEMPLATE_METADATA: Schema = {
  description: 'Labels, annotations and finalizers for every pod of this PodGroup. The labels must match spec.selector.',
  type: 'object',
  properties: {
    labels: {
      description: 'Labels of the pods. The controller adds controller-revision-hash.',
      type: 'object',
      additionalProperties: { type: 'string' },
      maxProperties: 256,
    },
    annotations: { description: 'Annotations of the pods.', type: 'object', additionalProperties: { type: 'string' } },
    finalizers: {
      description:
        "Finalizers of the pods, as a Deployment's template carries them (e.g. to hold a pod in Terminating until something outside has finished with it).",
      type: 'array',
      items: { type: 'string' },
      'x-kubernetes-list-type': 'set',
    },
  },
};

/** The schema a node refers to ($ref, or allOf's first $ref as OpenAPI v3 wraps a described reference). */
const refOf = (node: Schema): string | undefined =>
  (node.$ref as string | undefined) ?? ((node.allOf as Schema[] | undefined)?.[0]?.$ref as string | undefined);

export function expandTemplate(schemas: Record<string, Schema>): Schema {
  const resolve = (node: Schema): Schema => {
    const ref = refOf(node);
    return ref === undefined ? node : (schemas[ref.slice(REF_PREFIX.length)] ?? node);
  };
  /**
   * A CRD's list-map keys must be required or defaulted in every item. Upstream's OpenAPI gives
   * the defaults of the keys that are optional (a port's protocol is TCP); only those defaults
   * are kept: the rest of the template stays as written, as it always was.
   */
  const keyDefaults = (items: Schema, rawItems: Schema, keys: string[]): Schema => {
    const required = new Set((items.required as string[] | undefined) ?? []);
    const properties = { ...(items.properties as Record<string, Schema>) };
    for (const key of keys) {
      if (required.has(key)) {
        continue;
      }
      const fallback = resolve((resolve(rawItems).properties as Record<string, Schema> | undefined)?.[key] ?? {}).default;
      if (fallback === undefined || properties[key] === undefined) {
        throw new Error(`list map key ${key} is neither required nor defaulted in the upstream schema`);
      }
      properties[key] = { ...properties[key], default: fallback };
    }
    return { ...items, properties };
  };
  const expand = (node: Schema, stack: string[]): Schema => {
    const ref = refOf(node);
    if (ref !== undefined) {
      const name = ref.slice(REF_PREFIX.length);
      const description = node.description as string | undefined;
      if (name === 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta') {
        return TEMPLATE_METADATA;
      }
      const target = SPECIAL[name] ?? schemas[name];
      if (target === undefined) {
        throw new Error(`unknown schema ${name}`);
      }
      if (stack.includes(name)) {
        throw new Error(`recursive schema ${[...stack, name].join(' → ')}`);
      }
      const expanded = SPECIAL[name] ? { ...target } : expand(target, [...stack, name]);
      return description === undefined ? expanded : { ...expanded, description };
    }
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
      if (!KEPT.has(key)) {
        continue;
      }
      if (key === 'format' && value === 'int-or-string') {
        continue;
      }
      if (key === 'properties') {
        out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, expand(v, stack)]));
      } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
        out[key] = expand(value as Schema, stack);
      } else {
        out[key] = value;
      }
    }
    if (out.type === undefined && out.properties !== undefined) {
      out.type = 'object';
    }
    if (out.type === 'array') {
      delete out['x-kubernetes-list-type'];
      delete out['x-kubernetes-list-map-keys'];
      const markers = listMarkers(node);
      Object.assign(out, markers);
      const keys = markers['x-kubernetes-list-map-keys'] as string[] | undefined;
      if (keys !== undefined) {
        out.items = keyDefaults(out.items as Schema, node.items as Schema, keys);
      }
    }
    return out;
  };
  const root = schemas['io.k8s.api.core.v1.PodTemplateSpec'];
  if (root === undefined) {
    throw new Error('the OpenAPI document has no io.k8s.api.core.v1.PodTemplateSpec');
  }
  return expand(root, ['io.k8s.api.core.v1.PodTemplateSpec']);
}

export async function fetchCoreSchemas(kc: k8s.KubeConfig): Promise<Record<string, Schema>> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw new Error('no current cluster in the kubeconfig');
  }
  const options: import('node:https').RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${cluster.server}/openapi/v3/api/v1`, options, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`GET /openapi/v3/api/v1: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  const doc = JSON.parse(body) as { components: { schemas: Record<string, Schema> } };
  return doc.components.schemas;
}

export async function renderCrd(kc: k8s.KubeConfig): Promise<string> {
  const template = expandTemplate(await fetchCoreSchemas(kc));
  const header = "# Generated by hack/crd/generate.ts from podgroup-schema.ts and the API server's OpenAPI. Do not edit.\n";
  return header + stringify(podGroupCrd(template), { lineWidth: 0, aliasDuplicateObjects: false });
}
