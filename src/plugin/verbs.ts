// The verbs of `kubectl podgroup`: read through the PluginClient, decide with kubectl-rollout.ts/why.ts,
// print what kubectl prints for a Deployment. Each returns the exit code; kubectl's "error: …"
// answers are thrown as RolloutError (exit 1).
import { ROLLBACK_ANNOTATION, withDefaults, type PodGroup } from '../api/podgroup.js';
import type { PluginClient, PodGroupWatch } from './cluster.js';
import { describeTemplate } from './describe.js';
import { decideUndo, findRevision, historyTable, objectName, pausePatch, restartPatch, rolloutStatus, RolloutError } from './kubectl-rollout.js';
import { revisionData } from '../podgroup/revisions.js';
import { renderWhy } from './why.js';

export type Print = (text: string) => void;

export interface StatusOptions {
  watch: boolean;
  /** 0: wait forever. */
  timeoutMs: number;
  /** Above 0: fail unless this is the running revision (kubectl's --revision). */
  revision?: number;
}

/** `rollout status`: print the status line at the start and at every change until done, failed or timed out. */
export async function statusVerb(client: PluginClient, name: string, options: StatusOptions, print: Print): Promise<number> {
  const first = await client.getPodGroup(name);
  let last = '';
  const report = (pg: PodGroup): boolean => {
    const { message, done } = rolloutStatus(withDefaults(pg), options.revision ?? 0);
    if (message !== last) {
      print(`${message}\n`);
      last = message;
    }
    return done;
  };
  if (report(first) || !options.watch) {
    return 0;
  }
  const deadline = options.timeoutMs > 0 ? Date.now() + options.timeoutMs : Number.POSITIVE_INFINITY;
  let resourceVersion = first.metadata?.resourceVersion ?? '';
  for (;;) {
    let outcome: { done: true } | { error: Error } | undefined;
    let watch: PodGroupWatch | undefined;
    watch = await client.watchPodGroup(name, resourceVersion, (type, pg) => {
      if (outcome !== undefined) {
        return;
      }
      if (type === 'DELETED') {
        outcome = { error: new RolloutError('object has been deleted') };
      } else if (type === 'ADDED' || type === 'MODIFIED') {
        resourceVersion = pg.metadata?.resourceVersion ?? resourceVersion;
        try {
          if (report(pg)) {
            outcome = { done: true };
          }
        } catch (err) {
          outcome = { error: err as Error };
        }
      }
      if (outcome !== undefined) {
        watch?.abort();
      }
    });
    if (outcome !== undefined) {
      watch.abort();
    }
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      watch.done.then(() => false),
      new Promise<boolean>((resolve) => {
        if (Number.isFinite(remaining)) {
          timer = setTimeout(() => resolve(true), Math.max(0, remaining));
        }
      }),
    ]);
    clearTimeout(timer);
    watch.abort();
    // The outcome settles before `done` resolves (the handler aborts the watch itself).
    const settled = outcome as { done: true } | { error: Error } | undefined;
    if (settled !== undefined) {
      if ('error' in settled) {
        throw settled.error;
      }
      return 0;
    }
    if (timedOut || Date.now() >= deadline) {
      throw new RolloutError('timed out waiting for the condition');
    }
    // The server closed the watch (its timeout) or it failed: read again and watch on.
    const fresh = await client.getPodGroup(name);
    resourceVersion = fresh.metadata?.resourceVersion ?? '';
    if (report(fresh)) {
      return 0;
    }
  }
}

/** `rollout history`: the revision table, or one revision's template. */
export async function historyVerb(client: PluginClient, name: string, revision: number, print: Print): Promise<number> {
  const pg = await client.getPodGroup(name);
  const revisions = await client.listRevisions(pg);
  if (revision > 0) {
    const found = findRevision(revisions, revision);
    const data = found === undefined ? undefined : revisionData(found);
    if (data === undefined) {
      throw new RolloutError('unable to find the specified revision');
    }
    // The revision's own sidecar settings: they are part of it.
    print(`${objectName(name)} with revision #${revision}\n${describeTemplate(data.template, data.sidecars)}\n`);
    return 0;
  }
  print(`${objectName(name)} \n${historyTable(revisions)}\n`);
  return 0;
}

export interface UndoOptions {
  toRevision: number;
  /** How long to wait for the controller to apply the rollback annotation. */
  timeoutMs: number;
  pollMs?: number;
}

/**
 * `rollout undo`: decides like kubectl (paused, unknown revision, skipped), then sets the
 * server-side rollback annotation — the same path GitOps and plain kubectl users take — and waits
 * until the controller has applied it.
 */
export async function undoVerb(client: PluginClient, name: string, options: UndoOptions, print: Print): Promise<number> {
  const pg = await client.getPodGroup(name);
  const decision = decideUndo(pg, await client.listRevisions(pg), options.toRevision);
  if (decision.kind === 'skip') {
    print(`${objectName(name)} ${decision.message}\n`);
    return 0;
  }
  await client.patchPodGroup(name, { metadata: { annotations: { [ROLLBACK_ANNOTATION]: String(decision.revision) } } });
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const now = await client.getPodGroup(name);
    if (now.metadata?.annotations?.[ROLLBACK_ANNOTATION] === undefined) {
      break;
    }
    if (Date.now() >= deadline) {
      throw new RolloutError(
        `the rollback to revision ${decision.revision} is recorded (annotation ${ROLLBACK_ANNOTATION}) but the controller has not applied it within ${Math.round(options.timeoutMs / 1000)}s; is podgroup-controller running?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
  }
  print(`${objectName(name)} rolled back\n`);
  return 0;
}

/** `rollout pause` / `rollout resume`. */
export async function pauseVerb(client: PluginClient, name: string, pause: boolean, print: Print): Promise<number> {
  const decided = pausePatch(await client.getPodGroup(name), pause);
  if ('error' in decided) {
    throw new RolloutError(decided.error);
  }
  await client.patchPodGroup(name, decided.patch);
  print(`${objectName(name)} ${pause ? 'paused' : 'resumed'}\n`);
  return 0;
}

/** `rollout restart`: a new kubectl.kubernetes.io/restartedAt on the pod template. */
export async function restartVerb(client: PluginClient, name: string, now: Date, print: Print): Promise<number> {
  const decided = restartPatch(await client.getPodGroup(name), now);
  if ('error' in decided) {
    throw new RolloutError(decided.error);
  }
  await client.patchPodGroup(name, decided.patch);
  print(`${objectName(name)} restarted\n`);
  return 0;
}

/** `why`: the PodGroup, its pods and their recent events on one screen. */
export async function whyVerb(client: PluginClient, name: string, now: Date, print: Print): Promise<number> {
  const pg = await client.getPodGroup(name);
  const pods = await client.listPods(pg);
  const events = await client.listEvents(pg, new Set(pods.map((p) => p.metadata?.name ?? '')));
  print(renderWhy({ pg: withDefaults(pg), pods, events, now }));
  return 0;
}
