// Rate limiters with client-go's semantics: per-item exponential backoff, an overall
// token bucket, and the max of several. `when(item)` both answers and records a failure.
import { timerDelay } from './timers.js';

export interface RateLimiter<K> {
  /** How long to wait before `item` may be processed again; counts as one more failure. */
  when(item: K): number;
  /** Clears the item's failure history (call after a success). */
  forget(item: K): void;
  numRequeues(item: K): number;
}

/** base * 2^failures, capped at max (ms). */
export class ItemExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    private readonly baseDelayMs = 5,
    private readonly maxDelayMs = 1_000_000,
  ) {}

  when(item: K): number {
    const count = this.failures.get(item) ?? 0;
    this.failures.set(item, count + 1);
    // 2^count overflows to Infinity well before it matters; min() keeps it finite.
    return Math.min(this.baseDelayMs * 2 ** count, this.maxDelayMs);
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  numRequeues(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

/**
 * A token bucket (rate qps, capacity burst). `reserve()` takes a token now or borrows one from
 * the future and returns how long the caller must wait for it, like Go's rate.Limiter.Reserve.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  /** Takes a token only if one is available now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) {
      return false;
    }
    this.tokens -= 1;
    return true;
  }

  /** Waits until a token is available. */
  async take(): Promise<void> {
    const delay = this.reserve();
    if (delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, timerDelay(delay)));
    }
  }
}

/** The overall limit shared by all items (client-go's BucketRateLimiter). */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  private readonly bucket: TokenBucket;

  constructor(qps = 10, burst = 100, now?: () => number) {
    this.bucket = new TokenBucket(qps, burst, now);
  }

  when(_item: K): number {
    return this.bucket.reserve();
  }

  forget(_item: K): void {}

  numRequeues(_item: K): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(item: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.when(item)));
  }

  forget(item: K): void {
    for (const l of this.limiters) {
      l.forget(item);
    }
  }

  numRequeues(item: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.numRequeues(item)));
  }
}

/** controller-runtime's default: 5 ms … 1000 s per item, and 10 qps / 100 burst overall. */
export function defaultControllerRateLimiter<K>(): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(new ItemExponentialFailureRateLimiter<K>(5, 1_000_000), new BucketRateLimiter<K>(10, 100));
}
