// An informer that never silently dies, over client-node's ListWatch.
//
// ListWatch stops for good on any error other than 410 Gone, emits `error` on stop(), and has
// no watch timeout. So each ListWatch here is one "generation": when it fails or its watch goes
// quiet for longer than stallTimeoutMs (no event, no bookmark, no reconnect), the generation is
// retired (its late callbacks are ignored) and a new one relists after an exponential backoff.
// After a relist, objects that vanished meanwhile are deleted from the store and reported to
// handlers, so changes made while the API server was unreachable are never lost.
import http from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { describeError, errorLogFields } from './kube-client.js';
import type { Logger } from './logging.js';
import { silentLogger } from './logging.js';
import { informerRestarts, informerSynced } from './metrics.js';
import { listAll, type ListOptions, type ResourceType } from './resources.js';
import { objectKey, Store, type IndexFunc, type Reader } from './store.js';
import { timerDelay } from './timers.js';

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export interface InformerOptions<T> extends ListOptions {
  indexers?: Record<string, IndexFunc<T>>;
  /** Applied to every object before it is cached (e.g. dropManagedFields). */
  transform?: (obj: T) => T;
  /** Restart the watch after this long without any sign of life. */
  stallTimeoutMs?: number;
  backoff?: Backoff;
  /** Server-side watch timeout range; the server then ends the watch cleanly and we re-watch. */
  watchTimeoutSeconds?: [number, number];
  logger?: Logger;
}

export const DEFAULT_STALL_TIMEOUT_MS = 3 * 60_000;
export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, maxMs: 30_000 };
const HEALTHY_GENERATION_MS = 30_000;

export function dropManagedFields<T extends k8s.KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) {
    delete obj.metadata.managedFields;
  }
  return obj;
}

/** Exponential backoff with ±20 % jitter so many informers do not retry in lockstep. */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

type EndReason = { kind: 'error'; error: unknown } | { kind: 'stalled' } | { kind: 'stopped' };

/** One ListWatch and the bookkeeping that lets us ignore it once retired. */
class Generation<T extends k8s.KubernetesObject> {
  active = true;
  readonly startedAt = Date.now();
  lastActivity = Date.now();
  /** Keys listed or watched before the first prune; dropped afterwards. */
  seen: Set<string> | undefined = new Set<string>();
  listed = false;
  ended: EndReason | undefined;
  private resolveEnd: (reason: EndReason) => void = () => undefined;
  readonly end = new Promise<EndReason>((resolve) => (this.resolveEnd = resolve));

  finish(reason: EndReason): void {
    if (this.ended === undefined) {
      this.ended = reason;
      this.resolveEnd(reason);
    }
  }
}

/** A Watch that asks for bookmarks and a server-side timeout, and reports each (re)watch and every sign of life. */
class ObservedWatch extends k8s.Watch {
  private readonly agents = new Set<http.Agent>();

  constructor(
    config: k8s.KubeConfig,
    private readonly onActivity: () => void,
    private readonly onWatchStart: () => void,
    private readonly timeoutRange: [number, number],
  ) {
    // client-node cannot abort a watch request until its response headers arrive (it hands back
    // its AbortController only then). Each request gets a fresh agent from applyToFetchOptions;
    // remembering them lets abandon() break such a request.
    const observed = Object.create(config) as k8s.KubeConfig;
    observed.applyToFetchOptions = async (options) => {
      const init = await config.applyToFetchOptions(options);
      if (init.agent instanceof http.Agent) {
        this.agents.add(init.agent);
      }
      return init;
    };
    super(observed);
  }

  /** Destroys every connection this watch opened, including a request still waiting for headers. */
  abandon(): void {
    for (const agent of this.agents) {
      agent.destroy();
    }
    this.agents.clear();
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const [min, max] = this.timeoutRange;
    const timeoutSeconds = Math.floor(min + Math.random() * Math.max(0, max - min));
    this.onActivity();
    this.onWatchStart();
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
      (phase, obj, raw) => {
        this.onActivity();
        callback(phase, obj, raw);
      },
      done,
    );
  }
}

export class Informer<T extends k8s.KubernetesObject> {
  readonly store: Store<T>;
  private readonly handlers: EventHandler<T>[] = [];
  private synced = false;
  private readonly syncWaiters: Array<() => void> = [];
  private stopped = false;
  private running: Promise<void> | undefined;
  private current: Generation<T> | undefined;
  private wakeBackoff: (() => void) | undefined;
  private readonly log: Logger;
  private readonly stallTimeoutMs: number;
  private readonly backoff: Backoff;

  constructor(
    private readonly kubeConfig: k8s.KubeConfig,
    readonly resource: ResourceType<T>,
    private readonly options: InformerOptions<T> = {},
  ) {
    this.store = new Store<T>(options.indexers);
    this.log = (options.logger ?? silentLogger).child({ informer: resource.name });
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    informerSynced.set({ resource: resource.name }, 0);
  }

  get reader(): Reader<T> {
    return this.store;
  }

  /** True once the first list has completed successfully. */
  hasSynced(): boolean {
    return this.synced;
  }

  addEventHandler(handler: EventHandler<T>): void {
    this.handlers.push(handler);
    // Late registrants see the current contents, as with client-go's shared informers.
    if (handler.onAdd !== undefined) {
      for (const obj of this.store.list()) {
        this.safely(() => handler.onAdd?.(obj));
      }
    }
  }

  /** Starts listing and watching in the background; idempotent. */
  start(): void {
    if (this.running === undefined && !this.stopped) {
      this.running = this.run();
    }
  }

  /** Resolves once synced; rejects if the informer is stopped first or `signal` aborts. */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) {
      return;
    }
    if (signal?.aborted === true) {
      throw new Error(`waiting for ${this.resource.name} to sync was aborted`);
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new Error(`waiting for ${this.resource.name} to sync was aborted`));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        if (this.synced) {
          resolve();
        } else {
          reject(new Error(`informer for ${this.resource.name} stopped before it synced`));
        }
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.finish({ kind: 'stopped' });
    this.wakeBackoff?.();
    await this.running;
    this.syncWaiters.splice(0).forEach((wake) => wake());
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const generation = new Generation<T>();
      this.current = generation;
      const reason = await this.runGeneration(generation);
      if (this.stopped || reason.kind === 'stopped') {
        break;
      }
      informerRestarts.inc({ resource: this.resource.name, reason: reason.kind });
      if (Date.now() - generation.startedAt > HEALTHY_GENERATION_MS) {
        // It worked for a while: the next failure starts the backoff afresh.
        attempt = 0;
      }
      let delay = 0;
      if (reason.kind === 'error') {
        delay = backoffDelay(attempt, this.backoff);
        attempt += 1;
        this.log.warn('list/watch failed; restarting', { error: describeError(reason.error), retryInMs: delay, attempt });
      } else {
        this.log.warn('watch stalled; restarting', { stallTimeoutMs: this.stallTimeoutMs });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timerDelay(delay));
        this.wakeBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeBackoff = undefined;
    }
  }

  private async runGeneration(generation: Generation<T>): Promise<EndReason> {
    const watch = new ObservedWatch(
      this.kubeConfig,
      () => (generation.lastActivity = Date.now()),
      () => {
        // ListWatch opens the watch right after applying a list: the cache now holds it.
        if (generation.active && generation.listed && generation.seen !== undefined) {
          this.pruneAfterList(generation);
          this.markSynced();
        }
      },
      this.options.watchTimeoutSeconds ?? [300, 600],
    );
    const listFn = async (): Promise<k8s.KubernetesListObject<T>> => {
      const list = await listAll(this.resource, this.options);
      generation.lastActivity = Date.now();
      generation.listed = true;
      return list;
    };
    const lw = new k8s.ListWatch<T>(this.resource.path, watch, listFn, false, this.options.labelSelector, this.options.fieldSelector);
    lw.on(k8s.ADD, (obj) => generation.active && this.upsert(generation, obj));
    lw.on(k8s.UPDATE, (obj) => generation.active && this.upsert(generation, obj));
    lw.on(k8s.DELETE, (obj) => generation.active && this.remove(obj));
    lw.on(k8s.CONNECT, () => (generation.lastActivity = Date.now()));
    lw.on(k8s.ERROR, (err) => {
      if (generation.active) {
        generation.finish({ kind: 'error', error: err });
      }
    });

    const stallCheck = setInterval(
      () => {
        if (Date.now() - generation.lastActivity > this.stallTimeoutMs) {
          generation.finish({ kind: 'stalled' });
        }
      },
      Math.max(50, Math.min(10_000, this.stallTimeoutMs / 4)),
    );
    stallCheck.unref();

    try {
      // start() resolves only once the watch has its response headers; a request that never gets
      // them (a black-holed connection) must not outlive a stall or stop().
      const endedEarly = await Promise.race([lw.start().then(() => undefined), generation.end]);
      return endedEarly ?? (await generation.end);
    } catch (err) {
      return { kind: 'error', error: err };
    } finally {
      clearInterval(stallCheck);
      generation.active = false;
      // stop() aborts the watch; the `error` it emits is ignored because the generation is retired.
      await lw.stop().catch(() => undefined);
      watch.abandon();
    }
  }

  private upsert(generation: Generation<T>, raw: T): void {
    const obj = this.options.transform ? this.options.transform(raw) : raw;
    const key = objectKey(obj);
    generation.seen?.add(key);
    const old = this.store.upsert(obj);
    if (old === undefined) {
      this.emit((h) => h.onAdd?.(obj));
    } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      this.emit((h) => h.onUpdate?.(old, obj));
    }
  }

  private remove(obj: T): void {
    const old = this.store.delete(objectKey(obj));
    if (old !== undefined) {
      this.emit((h) => h.onDelete?.(obj));
    }
  }

  /** Deletes cached objects the fresh list did not contain (deleted while we were not watching). */
  private pruneAfterList(generation: Generation<T>): void {
    const seen = generation.seen ?? new Set<string>();
    generation.seen = undefined;
    for (const key of [...this.store.keys()]) {
      if (!seen.has(key)) {
        const old = this.store.delete(key);
        if (old !== undefined) {
          this.emit((h) => h.onDelete?.(old));
        }
      }
    }
  }

  private markSynced(): void {
    if (!this.synced) {
      this.synced = true;
      informerSynced.set({ resource: this.resource.name }, 1);
      this.log.info('informer synced', { objects: this.store.size });
      this.syncWaiters.splice(0).forEach((wake) => wake());
    }
  }

  private emit(call: (h: EventHandler<T>) => void): void {
    for (const handler of this.handlers) {
      this.safely(() => call(handler));
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('event handler threw', errorLogFields(err));
    }
  }
}
