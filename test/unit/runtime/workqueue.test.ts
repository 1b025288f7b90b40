import { describe, expect, it } from '@jest/globals';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.js';
import { WorkQueue } from '../../../src/runtime/workqueue.js';

const newQueue = (): WorkQueue<string> => new WorkQueue<string>(new ItemExponentialFailureRateLimiter<string>(1, 1000));

async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const result = await Promise.race([promise, timeout]);
  clearTimeout(timer);
  return result;
}

describe('WorkQueue', () => {
  it('queues a key at most once while it waits (dirty set)', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect((await q.get()).key).toBe('a');
    expect((await q.get()).key).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands a key being processed to a second worker, and re-queues it after done', async () => {
    const q = newQueue();
    q.add('a');
    const first = await q.get();
    expect(first.key).toBe('a');
    q.add('a'); // added while processing: only marked dirty
    expect(q.length).toBe(0);
    expect(await within(q.get(), 30)).toBe('timeout');
    q.done('a');
    const second = await within(q.get(), 1000);
    expect(second).toEqual({ key: 'a', shutdown: false });
  });

  it('does not re-queue a key that was not added during processing', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('keeps one worker per key with many concurrent workers', async () => {
    const q = newQueue();
    const running = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const workers = Array.from({ length: 8 }, async () => {
      for (;;) {
        const item = await q.get();
        if (item.shutdown) {
          return;
        }
        if (running.has(item.key)) {
          overlaps += 1;
        }
        running.add(item.key);
        await new Promise((resolve) => setImmediate(resolve));
        running.delete(item.key);
        processed += 1;
        q.done(item.key);
      }
    });
    for (let round = 0; round < 50; round += 1) {
      for (const key of ['a', 'b', 'c']) {
        q.add(key);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await q.shutDownWithDrain();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed).toBeGreaterThanOrEqual(3);
  });

  it('addAfter adds later and keeps only the earliest of repeated delayed adds', async () => {
    const q = newQueue();
    q.addAfter('a', 5000);
    q.addAfter('a', 20);
    expect(q.length).toBe(0);
    const item = await within(q.get(), 2000);
    expect(item).toEqual({ key: 'a', shutdown: false });
    q.done('a');
    q.shutDown();
  });

  it('addRateLimited backs off exponentially per key until forget', () => {
    const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    expect([1, 2, 3, 4].map(() => limiter.when('k'))).toEqual([5, 10, 20, 40]);
    expect(limiter.numRequeues('k')).toBe(4);
    expect(limiter.when('other')).toBe(5);
    limiter.forget('k');
    expect(limiter.numRequeues('k')).toBe(0);
    expect(limiter.when('k')).toBe(5);
  });

  it('caps the per-key backoff', () => {
    const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    let delay = 0;
    for (let i = 0; i < 100; i += 1) {
      delay = limiter.when('k');
    }
    expect(delay).toBe(1_000_000);
  });

  it('counts retries through the queue and forgets them', () => {
    const q = newQueue();
    q.addRateLimited('a');
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(2);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    q.shutDown();
  });

  it('shutDown wakes waiting workers and drains what is queued first', async () => {
    const q = newQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toEqual({ key: undefined, shutdown: true });

    const q2 = newQueue();
    q2.add('a');
    q2.shutDown();
    q2.add('b'); // ignored after shutdown
    expect((await q2.get()).key).toBe('a');
    expect((await q2.get()).shutdown).toBe(true);
  });

  it('shutDownWithDrain waits for keys in processing', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    let drained = false;
    const draining = q.shutDownWithDrain().then(() => {
      drained = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(drained).toBe(false);
    q.done('a');
    await draining;
    expect(drained).toBe(true);
  });

  it('drops pending delayed adds on shutdown', async () => {
    const q = newQueue();
    q.addAfter('a', 10);
    q.shutDown();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(q.length).toBe(0);
  });

  it('reports metrics for adds, depth, latency and retries', async () => {
    const seen = { adds: 0, depth: [] as number[], queued: 0, worked: 0, retries: 0 };
    const q = new WorkQueue<string>(new ItemExponentialFailureRateLimiter<string>(1, 10), {
      add: () => (seen.adds += 1),
      depth: (d) => seen.depth.push(d),
      queued: () => (seen.queued += 1),
      worked: () => (seen.worked += 1),
      retry: () => (seen.retries += 1),
      setUnfinished: () => undefined,
    });
    q.add('a');
    q.add('a');
    const item = await q.get();
    q.done(item.key as string);
    q.addRateLimited('b');
    expect(seen).toEqual({ adds: 1, depth: [1, 0], queued: 1, worked: 1, retries: 1 });
    q.shutDown();
  });
});
