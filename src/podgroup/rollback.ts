// Deciding a rollback (the podgroup.dev/rollback-to annotation), as Deployment's rollback.go
// did for spec.rollbackTo: "0" (or "previous") means the last revision before the newest; the
// revision's template and sidecars replace the spec's, or a Warning says why not; the
// annotation is removed either way. Pure.
import type * as k8s from '@kubernetes/client-node';
import { ROLLBACK_ANNOTATION, type PodGroup } from '../api/podgroup.js';
import { annotationPointer, revisionContent, revisionData, revisionNumber, rollbackAnnotationsOps, sameContent } from './revisions.js';

export interface RollbackDecision {
  /** JSON Patch ops for the PodGroup (after a resourceVersion test). */
  ops: object[];
  event: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

const annotationPath = annotationPointer(ROLLBACK_ANNOTATION);

/** The second-highest revision number (upstream's LastRevision), 0 when there is none. */
function lastRevision(revisions: k8s.V1ControllerRevision[]): number {
  const numbers = [...new Set(revisions.map(revisionNumber))].sort((a, b) => b - a);
  return numbers[1] ?? 0;
}

export function decideRollback(pg: PodGroup, revisions: k8s.V1ControllerRevision[]): RollbackDecision {
  const requested = pg.metadata?.annotations?.[ROLLBACK_ANNOTATION] ?? '';
  const name = pg.metadata?.name ?? '';
  const ops: object[] = [{ op: 'remove', path: annotationPath }];
  let wanted = requested === 'previous' ? 0 : Number(requested);
  if (!Number.isInteger(wanted) || wanted < 0) {
    return { ops, event: { type: 'Warning', reason: 'RollbackRevisionNotFound', message: `Invalid revision ${JSON.stringify(requested)} to roll back to.` } };
  }
  if (wanted === 0) {
    wanted = lastRevision(revisions);
    if (wanted === 0) {
      return { ops, event: { type: 'Warning', reason: 'RollbackRevisionNotFound', message: 'Unable to find last revision.' } };
    }
  }
  const target = revisions.find((r) => revisionNumber(r) === wanted);
  const content = target === undefined ? undefined : revisionData(target);
  if (content === undefined) {
    return { ops, event: { type: 'Warning', reason: 'RollbackRevisionNotFound', message: 'Unable to find the revision to rollback to.' } };
  }
  if (sameContent(content, revisionContent(pg.spec))) {
    return {
      ops,
      event: {
        type: 'Warning',
        reason: 'RollbackTemplateUnchanged',
        message: `The rollback revision contains the same template as current PodGroup "${name}"`,
      },
    };
  }
  // JSON Patch replaces the template wholesale (a merge patch would keep stray labels).
  ops.push({ op: 'replace', path: '/spec/template', value: content.template });
  if (content.sidecars !== undefined) {
    ops.push({ op: 'add', path: '/spec/sidecars', value: content.sidecars });
  } else if (pg.spec.sidecars !== undefined) {
    ops.push({ op: 'remove', path: '/spec/sidecars' });
  }
  ops.push(...rollbackAnnotationsOps(pg, target as k8s.V1ControllerRevision));
  return { ops, event: { type: 'Normal', reason: 'RollbackDone', message: `Rolled back PodGroup "${name}" to revision ${wanted}` } };
}
