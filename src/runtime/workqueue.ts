// A keyed work queue with client-go's semantics.
//
// Invariants:
//  - dirty holds every key that needs processing; a key is in `queue` at most once, and only
//    when it is dirty and not being processed;
//  - processing holds the keys handed out by get() and not yet done(); a key in processing is
//    never handed out again until done(key), so one key never runs on two workers at once;
//  - add() of a key being processed only marks it dirty; done() re-queues it;
//  - after shutDown() no key is accepted, get() drains what is queued and then reports shutdown.
import type { RateLimiter } from './rate-limiter.js';
import { timerDelay } from './timers.js';

export interface QueueMetrics {
  add(): void;
  depth(depth: number): void;
  /** Seconds a key waited in the queue before get(). */
  queued(seconds: number): void;
  /** Seconds between get() and done(). */
  worked(seconds: number): void;
  retry(): void;
  /** Called on scrape: seconds of work in progress and the longest single one. */
  setUnfinished(totalSeconds: number, longestSeconds: number): void;
}

const noMetrics: QueueMetrics = {
  add: () => undefined,
  depth: () => undefined,
  queued: () => undefined,
  worked: () => undefined,
  retry: () => undefined,
  setUnfinished: () => undefined,
};

export type GetResult<K> = { key: K; shutdown: false } | { key: undefined; shutdown: true };

export class WorkQueue<K> {
  private queue: K[] = [];
  private head = 0;
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly waiters: Array<() => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  /** Delayed adds: key → [due time, timer]; only the earliest due time is kept. */
  private readonly delayed = new Map<K, { due: number; timer: NodeJS.Timeout }>();
  private shuttingDown = false;

  constructor(
    private readonly rateLimiter: RateLimiter<K>,
    private readonly metrics: QueueMetrics = noMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get length(): number {
    return this.queue.length - this.head;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) {
      return;
    }
    this.metrics.add();
    this.dirty.add(key);
    this.addedAt.set(key, this.now());
    if (this.processing.has(key)) {
      return;
    }
    this.push(key);
  }

  /** Adds key after delayMs; of several pending delayed adds of one key the earliest wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) {
      return;
    }
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = this.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.due <= due) {
        return;
      }
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, timerDelay(delayMs));
    timer.unref();
    this.delayed.set(key, { due, timer });
  }

  addRateLimited(key: K): void {
    this.metrics.retry();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** Waits for a key; the caller owns it until done(key). */
  async get(): Promise<GetResult<K>> {
    while (this.length === 0 && !this.shuttingDown) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.length === 0) {
      return { key: undefined, shutdown: true };
    }
    const key = this.pop();
    const now = this.now();
    this.metrics.queued((now - (this.addedAt.get(key) ?? now)) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, now);
    this.processing.add(key);
    this.dirty.delete(key);
    return { key, shutdown: false };
  }

  done(key: K): void {
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.metrics.worked((this.now() - started) / 1000);
      this.startedAt.delete(key);
    }
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.push(key);
    } else if (this.processing.size === 0) {
      this.drainWaiters.splice(0).forEach((resolve) => resolve());
    }
  }

  /** Stops accepting keys and wakes every waiting get(); pending delayed adds are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) {
      clearTimeout(timer);
    }
    this.delayed.clear();
    this.waiters.splice(0).forEach((resolve) => resolve());
  }

  /** shutDown(), then waits until every key handed out has been marked done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size > 0) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }

  /** Refreshes the in-progress gauges (called on metrics scrape). */
  updateUnfinishedWork(): void {
    const now = this.now();
    let total = 0;
    let longest = 0;
    for (const started of this.startedAt.values()) {
      const seconds = (now - started) / 1000;
      total += seconds;
      longest = Math.max(longest, seconds);
    }
    this.metrics.setUnfinished(total, longest);
  }

  private push(key: K): void {
    this.queue.push(key);
    this.metrics.depth(this.length);
    this.waiters.shift()?.();
  }

  private pop(): K {
    const key = this.queue[this.head] as K;
    this.head += 1;
    // Compact occasionally so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.metrics.depth(this.length);
    return key;
  }
}
