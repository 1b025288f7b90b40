// The pod a PodGroup creates from a revision's template.
import { randomInt } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL, REVISION_HASH_LABEL, REVISION_SIDECARS_ANNOTATION, type PodGroup } from '../api/podgroup.js';
import { POD_LABEL } from '../injection/config.js';
import { cachedCanonicalJson, controllerRef, type RevisionData } from './revisions.js';

/** The API server's generateName alphabet (no vowels, so no words). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * A name as generateName would make it (base cut to 58 characters, 5 random characters), but
 * chosen here: a create whose answer was lost can then be retried, and AlreadyExists tells that
 * the lost attempt worked.
 */
export function generatedName(base: string, pick: (n: number) => number = randomInt): string {
  let suffix = '';
  for (let i = 0; i < 5; i += 1) {
    suffix += SUFFIX_ALPHABET[pick(SUFFIX_ALPHABET.length)];
  }
  return `${base.slice(0, 58)}${suffix}`;
}

/** A pod of the revision with this content and hash; its sidecar settings travel in an annotation. */
export function podFromRevision(pg: PodGroup, content: RevisionData, hash: string, schedulerName: string | undefined): k8s.V1Pod {
  const { template, sidecars } = content;
  const annotations = {
    ...template.metadata?.annotations,
    ...(sidecars === undefined ? {} : { [REVISION_SIDECARS_ANNOTATION]: cachedCanonicalJson(sidecars) }),
  };
  const spec: k8s.V1PodSpec = structuredClone(template.spec ?? { containers: [] });
  if (schedulerName !== undefined && (spec.schedulerName === undefined || spec.schedulerName === '')) {
    spec.schedulerName = schedulerName;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      // <podgroup>-<hash>-<xxxxx>; generateName stays as the record of the base.
      name: generatedName(`${pg.metadata?.name ?? ''}-${hash}-`),
      generateName: `${pg.metadata?.name ?? ''}-${hash}-`,
      namespace: pg.metadata?.namespace,
      // The label routes pods of PodGroups with spec.sidecars to the injection webhook.
      labels: {
        ...template.metadata?.labels,
        [REVISION_HASH_LABEL]: hash,
        [POD_TEMPLATE_HASH_LABEL]: hash,
        ...(sidecars === undefined ? {} : { [POD_LABEL]: 'true' }),
      },
      annotations: Object.keys(annotations).length === 0 ? undefined : annotations,
      // As kube-controller-manager does (GetPodFromTemplate): labels, annotations and finalizers.
      finalizers: template.metadata?.finalizers === undefined ? undefined : [...template.metadata.finalizers],
      ownerReferences: [controllerRef(pg)],
    },
    spec,
  };
}
