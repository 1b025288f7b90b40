import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { Controller } from '../../../src/runtime/controller.js';
import { ItemExponentialFailureRateLimiter } from '../../../src/runtime/rate-limiter.js';
import { createLogger } from '../../../src/runtime/logging.js';

const terminating = new k8s.ApiException(
  403,
  'Forbidden',
  JSON.stringify({
    kind: 'Status',
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    message: 'pods "web-x" is forbidden: unable to create new content in namespace shop because it is being terminated',
    details: {
      name: 'web-x',
      kind: 'pods',
      causes: [{ reason: 'NamespaceTerminating', message: 'namespace shop is being terminated', field: 'metadata.namespace' }],
    },
  }),
  { 'x-podgroup-request': 'POST /api/v1/namespaces/shop/pods' },
);

async function runOnce(err: unknown): Promise<{ lines: Array<Record<string, unknown>>; requeues: number }> {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  stream.on('data', (chunk: Buffer) =>
    chunk
      .toString()
      .split('\n')
      .filter((l) => l !== '')
      .forEach((l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
  );
  let calls = 0;
  const controller = new Controller(
    `test-${Math.random()}`,
    {
      reconcile: async () => {
        calls += 1;
        throw err;
      },
      // A first retry far beyond the test, so a loaded machine cannot run the reconcile twice
      // before stop() (the default limiter retries after 5 ms).
    },
    { logger: createLogger({ stream, level: 'debug' }), rateLimiter: new ItemExponentialFailureRateLimiter<string>(60_000, 60_000) },
  );
  controller.start();
  controller.queue.add('shop/web');
  while (calls === 0) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  await controller.stop(1000);
  await new Promise((resolve) => setImmediate(resolve));
  return { lines: lines.filter((l) => l.message !== 'starting workers'), requeues: controller.queue.numRequeues('shop/web') };
}

describe('Controller error handling', () => {
  it('drops a NamespaceTerminating refusal: no error, no retry (as kube-controller-manager)', async () => {
    const { lines, requeues } = await runOnce(terminating);
    expect(requeues).toBe(0);
    expect(lines.map((l) => [l.level, l.message])).toEqual([['info', 'namespace is terminating; dropping the request']]);
  });
  it('logs any other API error once, as one line of fields, and retries with backoff', async () => {
    const conflict = new k8s.ApiException(
      409,
      'Conflict',
      JSON.stringify({ kind: 'Status', reason: 'Conflict', code: 409, message: 'the object has been modified' }),
      {
        'x-podgroup-request': 'PUT /apis/apps/v1/namespaces/shop/controllerrevisions/web-1',
      },
    );
    const { lines, requeues } = await runOnce(conflict);
    expect(requeues).toBe(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'reconciler error',
        error: 'update controllerrevisions shop/web-1: 409 Conflict: the object has been modified',
        verb: 'update',
        code: 409,
        reason: 'Conflict',
        retries: 1,
      }),
    ]);
    expect(lines[0]).not.toHaveProperty('stack');
  });
});
