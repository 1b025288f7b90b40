// Revisions: everything that shapes a pod (the template and spec.sidecars) is an apps/v1
// ControllerRevision owned by the PodGroup, named <podgroup>-<hash>. The hash (FNV-1a over the
// canonical JSON of that content and the collision count) labels the pods made from it; the
// revision carries the template's labels (so a selector claims orphaned revisions, as
// StatefulSet's do). Pure functions; the controller does the I/O.
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  PODGROUP_NAME_LABEL,
  REVISION_ANNOTATION,
  REVISION_HASH_LABEL,
  REVISION_MAX_REPLICAS_ANNOTATION,
  REVISION_REPLICAS_ANNOTATION,
  ROLLBACK_ANNOTATION,
  type PodGroup,
  type PodGroupSpec,
  type Sidecars,
} from '../api/podgroup.js';
import { normalizeSidecars, normalizeTemplate } from './normalize-template.js';

/** JSON with object keys sorted, so equal templates always serialize identically. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value instanceof Date ? value.toISOString() : value);
}

/**
 * Texts computed from an object that is never changed in place: objects of the informers' caches
 * (an update replaces them) and what is made from them per revision. A template's normal form is
 * asked for on every sync of its PodGroup and every pod created from it; it is computed once per object.
 */
function memoized(cache: WeakMap<object, string>, value: object, compute: () => string): string {
  let text = cache.get(value);
  if (text === undefined) {
    text = compute();
    cache.set(value, text);
  }
  return text;
}

const canonicalTexts = new WeakMap<object, string>();

/** canonicalJson of an object that is never changed in place (a cached object, a revision's content). */
export const cachedCanonicalJson = (value: object): string => memoized(canonicalTexts, value, () => canonicalJson(value));

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const bytes = Buffer.from(text, 'utf8');
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

// Kubernetes' SafeEncodeString alphabet: no vowels (no words) and no look-alike characters.
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function safeEncode(n: number): string {
  const digits = n.toString(10);
  let out = '';
  for (const ch of digits) {
    out += ALPHABET[Number(ch) % ALPHABET.length];
  }
  return out;
}

/** The annotation Deployments copy onto their ReplicaSets and `kubectl rollout history` shows. */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/**
 * Annotations that belong to the object they are on and are never copied between a PodGroup and
 * its revisions (upstream's annotationsToSkip): kubectl's last-applied configuration, the
 * revision number, the per-revision counts, the rollback request.
 */
const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_REPLICAS_ANNOTATION,
  REVISION_MAX_REPLICAS_ANNOTATION,
  ROLLBACK_ANNOTATION,
]);

/** The annotations a revision takes from its PodGroup (change-cause among them), as a ReplicaSet from its Deployment. */
function copiedAnnotations(obj: k8s.KubernetesObject): Record<string, string> {
  return Object.fromEntries(Object.entries(obj.metadata?.annotations ?? {}).filter(([k]) => !NOT_COPIED.has(k)));
}

/** What a revision holds: everything that shapes the pods made from it. */
export interface RevisionData {
  template: k8s.V1PodTemplateSpec;
  sidecars?: Sidecars;
}

export const revisionContent = (spec: Pick<PodGroupSpec, 'template' | 'sidecars'>): RevisionData =>
  spec.sidecars === undefined ? { template: spec.template } : { template: spec.template, sidecars: spec.sidecars };

/**
 * The hash of a revision's content, in its normal form (normalize-template.ts), so a respelled
 * template hashes alike. Revisions made before are still found by sameContent and keep their hash.
 */
export function contentHash(content: RevisionData, collisionCount: number): string {
  const suffix = collisionCount > 0 ? `#${collisionCount}` : '';
  const sidecars = normalizeSidecars(content.sidecars);
  return safeEncode(
    fnv1a32(canonicalJson(normalizeTemplate(content.template)) + (sidecars === undefined ? '' : `+sidecars:${canonicalJson(sidecars)}`) + suffix),
  ).slice(0, 10);
}

const normalTemplates = new WeakMap<object, string>();
const normalSidecars = new WeakMap<object, string>();
const normalTemplateText = (template: k8s.V1PodTemplateSpec): string => canonicalJson(normalizeTemplate(template));
const normalSidecarsText = (sidecars: Sidecars | undefined): string => canonicalJson(normalizeSidecars(sidecars) ?? null);

/** A revision's content in its normal form as text: equal for templates the API server would store alike in a Deployment. */
const contentKey = (c: RevisionData | undefined): string => {
  const template = c?.template ?? {};
  const sidecars = c?.sidecars;
  return `${memoized(normalTemplates, template, () => normalTemplateText(template))}+${
    sidecars === undefined ? normalSidecarsText(undefined) : memoized(normalSidecars, sidecars, () => normalSidecarsText(sidecars))
  }`;
};

/** Whether two revisions make the same pods: equal once defaulted and canonicalised as the API server does a Deployment's template. */
export function sameContent(a: RevisionData | undefined, b: RevisionData | undefined): boolean {
  return contentKey(a) === contentKey(b);
}

export function revisionData(revision: k8s.V1ControllerRevision): RevisionData | undefined {
  const data = revision.data as RevisionData | undefined;
  return data?.template === undefined ? undefined : data;
}

/**
 * A label value for any object name: names up to 63 characters as they are, longer ones cut to
 * 52 characters plus "-" and 10 hex characters of their SHA-256 (label values hold at most 63).
 */
export function boundedLabelValue(name: string): string {
  if (name.length <= 63) {
    return name;
  }
  const cut = name.slice(0, 52).replace(/[^A-Za-z0-9]+$/, '');
  return `${cut}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

export const revisionHashOf = (obj: k8s.KubernetesObject): string | undefined => obj.metadata?.labels?.[REVISION_HASH_LABEL];

export function controllerRef(pg: PodGroup): k8s.V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: pg.metadata?.name ?? '',
    uid: pg.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function newRevision(pg: PodGroup, hash: string, revision: number): k8s.V1ControllerRevision {
  const name = pg.metadata?.name ?? '';
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: `${name}-${hash}`,
      namespace: pg.metadata?.namespace,
      labels: { ...pg.spec.template.metadata?.labels, [REVISION_HASH_LABEL]: hash, [PODGROUP_NAME_LABEL]: boundedLabelValue(name) },
      ...(Object.keys(copiedAnnotations(pg)).length === 0 ? {} : { annotations: copiedAnnotations(pg) }),
      ownerReferences: [controllerRef(pg)],
    },
    data: revisionContent(pg.spec),
    revision,
  };
}

/** The revision's desired pod count as recorded on it; undefined when none (or not a count) is. */
export function recordedReplicas(revision: k8s.V1ControllerRevision): number | undefined {
  const raw = revision.metadata?.annotations?.[REVISION_REPLICAS_ANNOTATION];
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The replicas + maxSurge recorded with the revision's count; undefined when none (or not a positive count) is. */
export function recordedMaxReplicas(revision: k8s.V1ControllerRevision): number | undefined {
  const raw = revision.metadata?.annotations?.[REVISION_MAX_REPLICAS_ANNOTATION];
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A merge patch that records a revision's desired pod count and the PodGroup's replicas + maxSurge then (SetReplicasAnnotations). */
export const recordReplicasPatch = (replicas: number, maxReplicas: number): object => ({
  metadata: { annotations: { [REVISION_REPLICAS_ANNOTATION]: String(replicas), [REVISION_MAX_REPLICAS_ANNOTATION]: String(maxReplicas) } },
});

export const revisionNumber = (r: k8s.V1ControllerRevision): number => Number(r.revision ?? 0);

export function latestRevisionNumber(revisions: k8s.V1ControllerRevision[]): number {
  return revisions.reduce((max, r) => Math.max(max, revisionNumber(r)), 0);
}

export type RevisionDecision =
  /** `patch` (a merge patch for the revision) when annotations of the PodGroup differ from its record. */
  | { kind: 'existing'; revision: k8s.V1ControllerRevision; hash: string; patch?: object }
  /** An older revision holds this content (a rollback): reuse it under a new, highest number. */
  | { kind: 'renumber'; revision: k8s.V1ControllerRevision; hash: string; number: number; patch: object }
  | { kind: 'create'; revision: k8s.V1ControllerRevision; hash: string };

/**
 * The PodGroup's annotations onto its update revision, as copyDeploymentAnnotationsToReplicaSet:
 * those that differ are set, none are removed.
 */
function annotationsPatch(pg: PodGroup, revision: k8s.V1ControllerRevision): { metadata: { annotations: Record<string, string> } } | undefined {
  const theirs = revision.metadata?.annotations ?? {};
  const changed = Object.entries(copiedAnnotations(pg)).filter(([k, v]) => theirs[k] !== v);
  return changed.length === 0 ? undefined : { metadata: { annotations: Object.fromEntries(changed) } };
}

/**
 * The JSON Patch operation that gives the PodGroup the target revision's annotations on a
 * rollback, as SetDeploymentAnnotationsTo: the PodGroup keeps only its own (NOT_COPIED, less the
 * rollback request being answered) and takes the revision's others (change-cause among them), so
 * the renumbered revision keeps the cause it was made for.
 */
export function rollbackAnnotationsOps(pg: PodGroup, target: k8s.V1ControllerRevision): object[] {
  const own = Object.entries(pg.metadata?.annotations ?? {}).filter(([k]) => NOT_COPIED.has(k) && k !== ROLLBACK_ANNOTATION);
  const next = { ...Object.fromEntries(own), ...copiedAnnotations(target) };
  const current = Object.fromEntries(Object.entries(pg.metadata?.annotations ?? {}).filter(([k]) => k !== ROLLBACK_ANNOTATION));
  return canonicalJson(next) === canonicalJson(current) ? [] : [{ op: 'replace', path: '/metadata/annotations', value: next }];
}

/** The number a decision gives the update revision. */
export const decidedNumber = (d: RevisionDecision): number => (d.kind === 'renumber' ? d.number : revisionNumber(d.revision));

/**
 * JSON Patch operations that record the update revision's number on the PodGroup (as
 * getNewReplicaSet sets deployment.kubernetes.io/revision); none when it is already there.
 */
export function revisionAnnotationOps(pg: PodGroup, number: number): object[] {
  const value = String(number);
  const annotations = pg.metadata?.annotations;
  if (annotations?.[REVISION_ANNOTATION] === value) {
    return [];
  }
  if (annotations === undefined) {
    return [{ op: 'add', path: '/metadata/annotations', value: { [REVISION_ANNOTATION]: value } }];
  }
  return [{ op: 'add', path: annotationPointer(REVISION_ANNOTATION), value }];
}

/** The JSON pointer (RFC 6901: `~` as `~0`, `/` as `~1`) of an annotation, for JSON patches. */
export const annotationPointer = (key: string): string => `/metadata/annotations/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;

/** Which ControllerRevision represents the PodGroup's current template and sidecars. */
export function decideUpdateRevision(pg: PodGroup, revisions: k8s.V1ControllerRevision[], collisionCount: number): RevisionDecision {
  const latest = latestRevisionNumber(revisions);
  const content = revisionContent(pg.spec);
  const key = contentKey(content);
  const equal = revisions
    .filter((r) => revisionData(r) !== undefined && contentKey(revisionData(r)) === key)
    .sort((a, b) => revisionNumber(b) - revisionNumber(a));
  const match = equal[0];
  if (match !== undefined) {
    const hash = revisionHashOf(match) ?? contentHash(content, collisionCount);
    const patch = annotationsPatch(pg, match);
    return revisionNumber(match) === latest
      ? { kind: 'existing', revision: match, hash, ...(patch === undefined ? {} : { patch }) }
      : { kind: 'renumber', revision: match, hash, number: latest + 1, patch: { ...patch, revision: latest + 1 } };
  }
  const hash = contentHash(content, collisionCount);
  return { kind: 'create', revision: newRevision(pg, hash, latest + 1), hash };
}

/**
 * Revisions to delete, as Deployment's cleanupDeployment: of the old (not update) revisions not
 * already being deleted, only the `diff` oldest ones (diff = how many exceed `limit`) are
 * considered, and busy ones among them (`busyHashes`: a revision with active pods or a desired
 * count above 0) are skipped without looking further: the window never widens to newer ones, so
 * the revisions `rollout undo --to-revision` may name survive as a ReplicaSet would.
 */
export function revisionsToPrune(
  revisions: k8s.V1ControllerRevision[],
  updateHash: string,
  busyHashes: Set<string>,
  limit: number,
): k8s.V1ControllerRevision[] {
  const old = revisions
    .filter((r) => (revisionHashOf(r) ?? '') !== updateHash && r.metadata?.deletionTimestamp == null)
    .sort((a, b) => revisionNumber(a) - revisionNumber(b));
  const diff = Math.max(0, old.length - limit);
  return old.slice(0, diff).filter((r) => !busyHashes.has(revisionHashOf(r) ?? ''));
}
