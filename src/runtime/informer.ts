// An informer that never silently dies: list (or WatchList) then watch, over KubeClients' transport.
//
// Each list+watch is one "generation": when it fails or its watch goes quiet for longer than
// stallTimeoutMs (no event, no bookmark, no reconnect), the generation is retired (its requests
// are aborted, its late results ignored) and a new one relists after an exponential backoff; a
// 410 Gone relists at once. After a relist, objects that vanished meanwhile are deleted from the
// store and reported to handlers, so changes made while the API server was unreachable are never
// lost. The initial state comes from a WatchList (a watch that starts with the current objects
// and marks their end with a bookmark, as client-go's reflector does) when the API server allows
// it, else from a paginated list. Either way objects are applied as they arrive, yielding the
// event loop every few milliseconds, so a relist of many objects never stalls the HTTP servers
// that share the loop.
import type * as k8s from '@kubernetes/client-node';
import { describeError, errorLogFields, statusCode } from './kube-client.js';
import type { Logger } from './logging.js';
import { silentLogger } from './logging.js';
import { informerInitialLists, informerRestarts, informerSynced } from './metrics.js';
import { listPages, type ListOptions, type ResourceType } from './resources.js';
import { objectKey, Store, type IndexFunc, type Reader } from './store.js';
import { timerDelay } from './timers.js';
import type { WatchEvent, WatchStatus } from './watch-stream.js';

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** How an informer loads the initial state: a WatchList stream (falling back to list when refused), or always a paginated list. */
export type InitialListMethod = 'watch-list' | 'list';

export interface InformerOptions<T> extends ListOptions {
  indexers?: Record<string, IndexFunc<T>>;
  /** Applied to every object before it is cached (e.g. dropManagedFields). */
  transform?: (obj: T) => T;
  /** Restart the watch after this long without any sign of life. */
  stallTimeoutMs?: number;
  backoff?: Backoff;
  /** Server-side watch timeout range; the server then ends the watch cleanly and we re-watch. */
  watchTimeoutSeconds?: [number, number];
  /** Default 'watch-list'. */
  initialList?: InitialListMethod;
  logger?: Logger;
}

export const DEFAULT_STALL_TIMEOUT_MS = 3 * 60_000;
export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, maxMs: 30_000 };
const HEALTHY_GENERATION_MS = 30_000;
/** The longest stretch of applying objects before the event loop gets a turn. */
const SLICE_MS = 5;
/** A watch that the server ends this soon without any event is a failure, not a timeout (no hot re-watch loop). */
const SHORT_WATCH_MS = 1000;
/** The annotation of the bookmark that ends a WatchList's initial events. */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

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

type EndReason = { kind: 'error'; error: unknown } | { kind: 'stalled' } | { kind: 'expired' } | { kind: 'stopped' };

/** An ERROR event of a watch stream (its Status: 410 Expired, 500 ...). */
export class WatchStatusError extends Error {
  readonly code: number | undefined;
  constructor(status: WatchStatus) {
    super(`watch error: ${status.code ?? ''} ${status.reason ?? ''}: ${status.message ?? ''}`.replace(/\s+/g, ' '));
    this.code = status.code;
  }
}

/** The API server no longer has the resourceVersion we asked for (410 Gone / Expired). */
const isExpired = (err: unknown): boolean => (err instanceof WatchStatusError ? err.code : statusCode(err)) === 410;

/** The generation was retired while one of its steps was still running. */
class Retired extends Error {}

/** One list+watch and the bookkeeping that lets us ignore it once retired. */
class Generation {
  active = true;
  readonly startedAt = Date.now();
  lastActivity = Date.now();
  /** Keys listed or watched before the first prune; dropped afterwards. */
  seen: Set<string> | undefined = new Set<string>();
  ended: EndReason | undefined;
  /** Aborts this generation's requests when it ends. */
  private readonly abort = new AbortController();
  readonly signal = this.abort.signal;
  private resolveEnd: (reason: EndReason) => void = () => undefined;
  readonly end = new Promise<EndReason>((resolve) => (this.resolveEnd = resolve));
  private sliceStart = performance.now();

  finish(reason: EndReason): void {
    if (this.ended === undefined) {
      this.ended = reason;
      this.active = false;
      this.abort.abort();
      this.resolveEnd(reason);
    }
  }

  throwIfRetired(): void {
    if (!this.active) {
      throw new Retired('generation retired');
    }
  }

  /** After SLICE_MS of work, lets timers and I/O run (setImmediate), then goes on unless retired meanwhile. */
  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.sliceStart >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.sliceStart = performance.now();
      this.lastActivity = Date.now();
      this.throwIfRetired();
    }
  }
}

/** How a watch stream stopped being read: closed by the server, or at the end of a WatchList's initial events. */
type StreamEnd = { resourceVersion: string; initialEventsEnded: boolean };

export class Informer<T extends k8s.KubernetesObject> {
  readonly store: Store<T>;
  private readonly handlers: EventHandler<T>[] = [];
  private synced = false;
  private readonly syncWaiters: Array<() => void> = [];
  private stopped = false;
  private running: Promise<void> | undefined;
  private current: Generation | undefined;
  private wakeBackoff: (() => void) | undefined;
  private readonly log: Logger;
  private readonly stallTimeoutMs: number;
  private readonly backoff: Backoff;

  /** Set once the API server refused a WatchList (its WatchList feature is off): later relists go straight to list. */
  private watchListRefused = false;

  constructor(
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
      const generation = new Generation();
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
      } else if (reason.kind === 'expired') {
        // As client-go's reflector: the resourceVersion is too old to resume from, so relist at once.
        this.log.info('watch expired (410 Gone); relisting');
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

  private async runGeneration(generation: Generation): Promise<EndReason> {
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
      // A step that never completes (a black-holed connection) must not outlive a stall or stop().
      return await Promise.race([this.listAndWatch(generation), generation.end]);
    } catch (err) {
      return generation.ended ?? (isExpired(err) ? { kind: 'expired' } : { kind: 'error', error: err });
    } finally {
      clearInterval(stallCheck);
      // Aborts whatever request is still open; later results of this generation are ignored.
      generation.finish(generation.ended ?? { kind: 'stopped' });
    }
  }

  /** Loads the initial state, prunes what vanished, then watches until the generation ends; returns only on 410 Gone. */
  private async listAndWatch(generation: Generation): Promise<EndReason> {
    let events: AsyncIterator<WatchEvent<T>> | undefined;
    let resourceVersion: string | undefined;
    let method: InitialListMethod = 'list';
    if ((this.options.initialList ?? 'watch-list') === 'watch-list' && !this.watchListRefused) {
      const streamed = await this.watchList(generation);
      if (streamed !== undefined) {
        ({ events, resourceVersion } = streamed);
        method = 'watch-list';
      }
    }
    resourceVersion ??= await this.list(generation);
    generation.throwIfRetired();
    this.pruneAfterList(generation);
    informerInitialLists.inc({ resource: this.resource.name, method });
    this.markSynced(method);
    for (;;) {
      const started = Date.now();
      events ??= (await this.resource.watch(this.watchOptions({ resourceVersion }), generation.signal))[Symbol.asyncIterator]();
      generation.throwIfRetired();
      generation.lastActivity = Date.now();
      try {
        const end = await this.applyEvents(generation, events, resourceVersion, false);
        if (end.resourceVersion === resourceVersion && Date.now() - started < SHORT_WATCH_MS) {
          throw new Error(`the API server ended the watch of ${this.resource.name} at once, without any event`);
        }
        resourceVersion = end.resourceVersion;
      } catch (err) {
        if (isExpired(err)) {
          return { kind: 'expired' };
        }
        throw err;
      }
      // The server ended the watch (its timeoutSeconds): resume from the last resourceVersion seen.
      events = undefined;
    }
  }

  /**
   * WatchList: a watch with sendInitialEvents=true sends every current object as ADDED, then a
   * bookmark annotated k8s.io/initial-events-end; the same stream then carries later changes.
   * undefined means "use a paginated list instead": the API server refused (its WatchList feature
   * is off: 422/400 for sendInitialEvents) or the stream ended before the initial events did.
   */
  private async watchList(generation: Generation): Promise<{ events: AsyncIterator<WatchEvent<T>>; resourceVersion: string } | undefined> {
    let events: AsyncIterator<WatchEvent<T>>;
    try {
      const options = this.watchOptions({ resourceVersion: '', resourceVersionMatch: 'NotOlderThan', sendInitialEvents: true });
      events = (await this.resource.watch(options, generation.signal))[Symbol.asyncIterator]();
    } catch (err) {
      generation.throwIfRetired();
      const code = statusCode(err);
      if (code === 400 || code === 422) {
        this.watchListRefused = true;
      }
      // As client-go's reflector: making progress with a list beats failing on a WatchList error.
      this.log.warn('the API server refused a WatchList; falling back to a paginated list', {
        error: describeError(err),
        ...(this.watchListRefused ? { from: 'now on' } : {}),
      });
      return undefined;
    }
    generation.throwIfRetired();
    generation.lastActivity = Date.now();
    const end = await this.applyEvents(generation, events, '', true);
    if (!end.initialEventsEnded) {
      this.log.warn('a WatchList ended before its initial-events-end bookmark; falling back to a paginated list');
      return undefined;
    }
    return { events, resourceVersion: end.resourceVersion };
  }

  /** Lists page by page, applying each page as it arrives; returns the snapshot's resourceVersion. */
  private async list(generation: Generation): Promise<string> {
    let resourceVersion = '';
    for await (const page of listPages(this.resource, this.options)) {
      generation.throwIfRetired();
      generation.lastActivity = Date.now();
      for (const item of page.items) {
        this.upsert(generation, item);
        await generation.yieldIfDue();
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    }
    return resourceVersion;
  }

  /**
   * Applies watch events until the stream ends or, with untilInitialEventsEnd, until the bookmark
   * that ends a WatchList's initial events (the stream stays open for the caller to go on).
   * Reads with next() rather than for-await, which would close the stream on an early return.
   */
  private async applyEvents(
    generation: Generation,
    events: AsyncIterator<WatchEvent<T>>,
    fromResourceVersion: string,
    untilInitialEventsEnd: boolean,
  ): Promise<StreamEnd> {
    let resourceVersion = fromResourceVersion;
    for (;;) {
      const next = await events.next();
      generation.throwIfRetired();
      generation.lastActivity = Date.now();
      if (next.done === true) {
        return { resourceVersion, initialEventsEnded: false };
      }
      const event = next.value;
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
          this.upsert(generation, event.object);
          break;
        case 'DELETED':
          this.remove(generation, event.object);
          break;
        case 'BOOKMARK':
          if (untilInitialEventsEnd && event.object.metadata?.annotations?.[INITIAL_EVENTS_END] === 'true') {
            return { resourceVersion: event.object.metadata.resourceVersion ?? resourceVersion, initialEventsEnded: true };
          }
          break;
        case 'ERROR':
          throw new WatchStatusError(event.object);
      }
      resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
      await generation.yieldIfDue();
    }
  }

  private watchOptions(o: {
    resourceVersion: string;
    resourceVersionMatch?: 'NotOlderThan';
    sendInitialEvents?: boolean;
  }): Parameters<ResourceType<T>['watch']>[0] {
    const [min, max] = this.options.watchTimeoutSeconds ?? [300, 600];
    return {
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
      allowWatchBookmarks: true,
      timeoutSeconds: Math.floor(min + Math.random() * Math.max(0, max - min)),
      ...o,
    };
  }

  private upsert(generation: Generation, raw: T): void {
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

  private remove(generation: Generation, raw: T): void {
    // Handlers see a deleted object in the same (transformed) shape as every cached one.
    const obj = this.options.transform ? this.options.transform(raw) : raw;
    const key = objectKey(obj);
    generation.seen?.delete(key);
    const old = this.store.delete(key);
    if (old !== undefined) {
      this.emit((h) => h.onDelete?.(obj));
    }
  }

  /** Deletes cached objects the fresh list did not contain (deleted while we were not watching). */
  private pruneAfterList(generation: Generation): void {
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

  private markSynced(method: InitialListMethod): void {
    if (!this.synced) {
      this.synced = true;
      informerSynced.set({ resource: this.resource.name }, 1);
      this.log.info('informer synced', { objects: this.store.size, initialList: method });
      this.syncWaiters.splice(0).forEach((wake) => wake());
    } else {
      this.log.info('informer relisted', { objects: this.store.size, initialList: method });
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
