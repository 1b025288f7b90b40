// Injection into manifests (`kubectl podgroup inject`): Pods, or objects with a pod template
// (PodGroup, Deployment, StatefulSet, DaemonSet, Job, CronJob, ...). Pure: text in, text out.
import type * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import type { Sidecars } from '../api/podgroup.js';
import { InjectionError, resolveRequest } from './config.js';
import { mutate, type InjectorSettings } from './mutate.js';

interface Doc {
  kind?: string;
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
}

/** The pod template inside an object, with a way to put the mutated one back. */
function templateOf(doc: Doc): { get(): k8s.V1Pod; set(pod: k8s.V1Pod): void } | undefined {
  if (doc.kind === 'Pod') {
    return {
      get: () => doc as k8s.V1Pod,
      set: (pod) => Object.assign(doc, pod),
    };
  }
  const spec = doc.kind === 'CronJob' ? ((doc.spec?.jobTemplate as { spec?: Record<string, unknown> } | undefined)?.spec ?? undefined) : doc.spec;
  const template = spec?.template as k8s.V1PodTemplateSpec | undefined;
  if (spec === undefined || template === undefined) {
    return undefined;
  }
  return {
    get: () => ({ metadata: template.metadata, spec: template.spec }),
    set: (pod) => {
      spec.template = { metadata: pod.metadata, spec: pod.spec };
    },
  };
}

export function injectDocuments(text: string, options: { namespaceEnabled: boolean; settings: InjectorSettings }): string {
  const out: string[] = [];
  for (const parsed of parseAllDocuments(text)) {
    if (parsed.errors.length > 0) {
      throw new InjectionError(`invalid YAML: ${parsed.errors[0]?.message ?? 'parse error'}`);
    }
    const doc = parsed.toJS() as Doc | null;
    if (doc === null) {
      continue;
    }
    const template = templateOf(doc);
    if (template !== undefined) {
      const pod = template.get();
      const where = `${doc.kind ?? 'object'} ${doc.metadata?.name ?? ''}`.trim();
      try {
        const request = resolveRequest({
          annotations: pod.metadata?.annotations ?? {},
          namespaceOptIn: options.namespaceEnabled,
          podGroupSidecars: doc.kind === 'PodGroup' ? (doc.spec?.sidecars as Sidecars | undefined) : undefined,
        });
        if (request !== undefined) {
          template.set(mutate(pod, request, options.settings).pod);
        }
      } catch (err) {
        if (err instanceof InjectionError) {
          throw new InjectionError(`${where}: ${err.message}`);
        }
        throw err;
      }
    }
    out.push(stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  return out.join('---\n');
}
