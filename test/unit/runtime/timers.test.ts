import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { guardUnhandledRejections } from '../../../src/runtime/manager.js';
import { registry } from '../../../src/runtime/metrics.js';
import { createLogger } from '../../../src/runtime/logging.js';
import { MAX_TIMER_MS, timerDelay } from '../../../src/runtime/timers.js';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.js';
import { WorkQueue } from '../../../src/runtime/workqueue.js';

describe('timerDelay', () => {
  it('clamps to what a Node timer holds (a longer delay would fire after 1 ms)', () => {
    expect(timerDelay(2147483647 * 1000)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(0);
    expect(timerDelay(1500)).toBe(1500);
  });

  it('a work queue asked to requeue after MaxInt32 seconds does not hand the key out again soon', async () => {
    const queue = new WorkQueue<string>(new ItemExponentialFailureRateLimiter<string>(1, 1000));
    queue.addAfter('k', 2147483647 * 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(queue.length).toBe(0);
    queue.shutDown();
  });
});

describe('guardUnhandledRejections', () => {
  it('logs and counts an unhandled rejection instead of letting Node end the process', async () => {
    const lines: string[] = [];
    const log = createLogger({ silent: false });
    log.clear();
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        lines.push(String(chunk));
        done();
      },
    });
    log.add(new winston.transports.Stream({ stream: sink }));
    const count = async (): Promise<number> => (await registry.getSingleMetric('process_unhandled_rejections_total')?.get())?.values[0]?.value ?? 0;
    const before = await count();
    const remove = guardUnhandledRejections(log);
    try {
      process.emit('unhandledRejection', new Error('refused delete'), Promise.resolve());
    } finally {
      remove();
    }
    expect(await count()).toBe(before + 1);
    expect(lines.join('')).toContain('refused delete');
  });
});
