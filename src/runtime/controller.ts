// A controller: informer events map to keys, a rate-limited work queue hands each key to one
// worker at a time, and the worker calls reconcile(request). A result asks for a requeue; a
// throw is counted, logged and retried with per-key backoff. Nothing a reconciler does can
// crash the process.
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { SharedInformer } from './shared-informer.js';
import { withAbortSignal } from './kube-client.js';
import type { Logger } from './logging.js';
import { silentLogger } from './logging.js';
import { activeWorkers, maxConcurrentReconciles, onScrape, queueMetrics, reconcileErrors, reconcilePanics, reconcileTime, reconcileTotal } from './metrics.js';
import { describeError, errorLogFields, isNamespaceTerminating } from './kube-client.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';
import { objectKey, splitKey } from './store.js';
import { timerDelay } from './timers.js';
import { WorkQueue } from './workqueue.js';

export interface Request {
  namespace: string | undefined;
  name: string;
}

export interface Result {
  /** Requeue with the key's rate-limited backoff. */
  requeue?: boolean;
  /** Requeue after this many milliseconds (takes precedence over requeue). */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  log: Logger;
  reconcileID: string;
  /**
   * Aborted when the controller stops (shutdown, lost leadership). API requests made during the
   * reconcile are aborted with it; long waits of the reconciler's own should listen to it too.
   */
  signal: AbortSignal;
}

export interface Reconciler {
  reconcile(request: Request, context: ReconcileContext): Promise<Result | undefined>;
}

export interface ControllerOptions {
  maxConcurrentReconciles?: number;
  rateLimiter?: RateLimiter<string>;
  logger?: Logger;
}

export class Controller {
  readonly queue: WorkQueue<string>;
  private readonly log: Logger;
  private readonly workers: number;
  private workerLoops: Promise<void>[] = [];
  private started = false;
  private readonly unregisterScrapeHook: () => void;
  /** Cancels in-flight reconciles on stop(). */
  private readonly stopping = new AbortController();

  constructor(
    readonly name: string,
    private readonly reconciler: Reconciler,
    options: ControllerOptions = {},
  ) {
    this.workers = Math.max(1, options.maxConcurrentReconciles ?? 1);
    this.log = (options.logger ?? silentLogger).child({ controller: name });
    this.queue = new WorkQueue<string>(options.rateLimiter ?? defaultControllerRateLimiter<string>(), queueMetrics(name));
    this.unregisterScrapeHook = onScrape(() => this.queue.updateUnfinishedWork());
    maxConcurrentReconciles.set({ controller: name }, this.workers);
    activeWorkers.set({ controller: name }, 0);
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      reconcileTotal.inc({ controller: name, result }, 0);
    }
    reconcileErrors.inc({ controller: name }, 0);
  }

  /** Reconciles the object itself on every add, update and delete. */
  watchFor<T extends KubernetesObject>(informer: SharedInformer<T>): this {
    const enqueue = (obj: T): void => this.queue.add(objectKey(obj));
    informer.addEventHandler({ onAdd: enqueue, onUpdate: (_old, obj) => enqueue(obj), onDelete: enqueue });
    return this;
  }

  /**
   * Reconciles whatever keys `map` returns for a changed object; on update both the old and the
   * new object are mapped (an owner or label change concerns both sides).
   */
  watches<T extends KubernetesObject>(informer: SharedInformer<T>, map: (obj: T) => string[]): this {
    const enqueue = (obj: T): void => map(obj).forEach((key) => this.queue.add(key));
    informer.addEventHandler({
      onAdd: enqueue,
      onUpdate: (oldObj, newObj) => {
        enqueue(oldObj);
        enqueue(newObj);
      },
      onDelete: enqueue,
    });
    return this;
  }

  start(): void {
    if (this.started) {
      return;
    }
    this.started = true;
    this.log.info('starting workers', { workers: this.workers });
    this.workerLoops = Array.from({ length: this.workers }, () => this.worker());
  }

  /**
   * Stops taking keys, cancels in-flight reconciles (their signal aborts, and with it their API
   * requests), and waits (up to deadlineMs) for them to return.
   */
  async stop(deadlineMs = 30_000): Promise<boolean> {
    this.stopping.abort(new Error(`controller ${this.name} is stopping`));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timerDelay(deadlineMs));
    });
    const drained = this.queue.shutDownWithDrain().then(async () => {
      await Promise.all(this.workerLoops);
      return true;
    });
    const finished = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    this.unregisterScrapeHook();
    if (!finished) {
      this.log.warn('in-flight reconciles did not finish before the shutdown deadline', { deadlineMs });
    }
    return finished;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (item.shutdown) {
        return;
      }
      activeWorkers.inc({ controller: this.name });
      try {
        await this.processKey(item.key);
      } finally {
        activeWorkers.dec({ controller: this.name });
        this.queue.done(item.key);
      }
    }
  }

  private async processKey(key: string): Promise<void> {
    const request = splitKey(key);
    const reconcileID = randomUUID();
    const log = this.log.child({ namespace: request.namespace, name: request.name, reconcileID });
    const end = reconcileTime.startTimer({ controller: this.name });
    try {
      const signal = this.stopping.signal;
      const result = (await withAbortSignal(signal, () => this.reconciler.reconcile(request, { log, reconcileID, signal }))) ?? {};
      if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
      } else if (result.requeue === true) {
        this.queue.addRateLimited(key);
        reconcileTotal.inc({ controller: this.name, result: 'requeue' });
      } else {
        this.queue.forget(key);
        reconcileTotal.inc({ controller: this.name, result: 'success' });
      }
    } catch (err) {
      if (isNamespaceTerminating(err)) {
        // As kube-controller-manager does: the namespace is going away with everything in it.
        this.queue.forget(key);
        reconcileTotal.inc({ controller: this.name, result: 'success' });
        log.info('namespace is terminating; dropping the request', { error: describeError(err) });
        return;
      }
      reconcileTotal.inc({ controller: this.name, result: 'error' });
      reconcileErrors.inc({ controller: this.name });
      if (!(err instanceof Error)) {
        reconcilePanics.inc({ controller: this.name });
      }
      this.queue.addRateLimited(key);
      log.error('reconciler error', { ...errorLogFields(err), retries: this.queue.numRequeues(key) });
    } finally {
      end();
    }
  }
}
