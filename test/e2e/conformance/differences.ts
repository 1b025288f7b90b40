// The intentional differences between a Deployment and a PodGroup, declared once in the table of
// docs/conformance.md. Each row's id has exactly one rule here; loading fails when the table and
// the rules disagree, so the comparison applies exactly what the docs declare.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';

export type Kind = 'Deployment' | 'PodGroup';

/** One settled (or in-flight) state, already reduced to what both kinds share. */
export interface Observed {
  generation: number;
  observedGeneration: number;
  status: Record<string, number>;
  /** type → "status/reason". */
  conditions: Record<string, string>;
  /** template key (image, "+unschedulable"; "bare …" and "… finished" apart) → counts of the pods with that key. */
  pods: Record<string, { total: number; ready: number; available: number; terminating: number }>;
  revisions: number;
  /** The revision number on the object (deployment.kubernetes.io/revision, podgroup.dev/revision); 0 when none. */
  revision: number;
}

/** The fields every Deployment status has (extra-status). */
export const SHARED_STATUS_FIELDS = ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const;
export const SHARED_CONDITIONS = ['Available', 'Progressing', 'ReplicaFailure'] as const;

interface Rule {
  /** Makes an observation comparable; the identity for rules that act elsewhere. */
  normalize(observed: Observed): Observed;
  /** Where the rule acts, for rules that do not normalize. */
  appliedIn?: string;
}

const identity = (o: Observed): Observed => o;

export const RULES: Record<string, Rule> = {
  'pods-owned-directly': { normalize: identity, appliedIn: 'harness.observe groups pods by template key' },
  'revision-objects': { normalize: identity, appliedIn: 'harness.observe counts ReplicaSets and ControllerRevisions, never names' },
  'extra-status': {
    normalize: (o) => ({
      ...o,
      status: Object.fromEntries(SHARED_STATUS_FIELDS.map((f) => [f, o.status[f] ?? 0])),
      conditions: Object.fromEntries(Object.entries(o.conditions).filter(([type]) => (SHARED_CONDITIONS as readonly string[]).includes(type))),
    }),
  },
  'condition-messages': { normalize: identity, appliedIn: 'harness.observe keeps status/reason of conditions only' },
  events: { normalize: identity, appliedIn: 'events are recorded in the timeline, not compared' },
  'rollback-server-side': { normalize: identity, appliedIn: 'harness.applyOp rolls a Deployment back with kubectl rollout undo' },
  'generation-counts': {
    // Only whether the controller has caught up is compared, not the numbers.
    normalize: (o) => ({ ...o, generation: 1, observedGeneration: o.observedGeneration >= o.generation ? 1 : 0 }),
  },
  'scheduler-name-not-defaulted': { normalize: identity, appliedIn: 'harness.template names default-scheduler in every spelling' },
  'progressing-reason-race': {
    // Both say "a rollout is under way"; which one a Deployment shows is decided by a race.
    normalize: (o) =>
      o.conditions.Progressing === 'True/NewReplicaSetCreated' ? { ...o, conditions: { ...o.conditions, Progressing: 'True/ReplicaSetUpdated' } } : o,
  },
  'refused-deletes': { normalize: identity, appliedIn: 'Step.compare "conditions" and Step.waiveDeploymentSurge in the refused-deletes scenario' },
};

/** The ids of the table in docs/conformance.md. */
export function declaredDifferences(): string[] {
  const text = readFileSync(join(REPO_ROOT, 'docs', 'conformance.md'), 'utf8');
  const section = text.slice(text.indexOf('## Intentional differences'));
  return [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1] ?? '');
}

/** Fails unless the docs' table and RULES name the same differences. */
export function checkDeclarations(): void {
  const declared = declaredDifferences().sort();
  const implemented = Object.keys(RULES).sort();
  if (JSON.stringify(declared) !== JSON.stringify(implemented)) {
    throw new Error(`docs/conformance.md declares [${declared.join(', ')}] but the comparison implements [${implemented.join(', ')}]`);
  }
}

export function normalize(observed: Observed): Observed {
  return declaredDifferences().reduce((o, id) => RULES[id]?.normalize(o) ?? o, observed);
}

/** Two JSON texts side by side, mismatching lines marked. */
export function sideBySide(left: unknown, right: unknown, titles: [string, string]): string {
  const a = JSON.stringify(left, null, 2).split('\n');
  const b = JSON.stringify(right, null, 2).split('\n');
  const width = Math.max(titles[0].length, ...a.map((l) => l.length)) + 2;
  const out = [`  ${titles[0].padEnd(width)}${titles[1]}`];
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const l = a[i] ?? '';
    const r = b[i] ?? '';
    out.push(`${l === r ? ' ' : '≠'} ${l.padEnd(width)}${r}`);
  }
  return out.join('\n');
}
