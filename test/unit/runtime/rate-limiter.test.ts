import { describe, expect, it } from '@jest/globals';
import { BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, TokenBucket } from '../../../src/runtime/rate-limiter.js';

describe('TokenBucket', () => {
  it('allows a burst, then spaces requests at 1/qps', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBeCloseTo(100);
    expect(bucket.reserve()).toBeCloseTo(200);
    now = 1000; // refilled, capped at burst: 10 tokens earned, 2 owed
    expect(bucket.reserve()).toBe(0);
  });

  it('tryTake never goes into debt', () => {
    let now = 0;
    const bucket = new TokenBucket(1, 1, () => now);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.tryTake()).toBe(false);
    now = 1000;
    expect(bucket.tryTake()).toBe(true);
  });
});

describe('MaxOfRateLimiter (controller default shape)', () => {
  it('takes the larger of per-item backoff and the overall bucket', () => {
    let now = 0;
    const limiter = new MaxOfRateLimiter<string>(new ItemExponentialFailureRateLimiter<string>(5, 1_000_000), new BucketRateLimiter<string>(10, 2, () => now));
    expect(limiter.when('a')).toBe(5);
    expect(limiter.when('b')).toBe(5);
    // bucket exhausted: the overall limit dominates a fresh item's 5 ms
    expect(limiter.when('c')).toBeCloseTo(100);
    expect(limiter.numRequeues('a')).toBe(1);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    now = 0;
  });
});
