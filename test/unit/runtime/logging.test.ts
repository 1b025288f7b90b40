import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { apiErrorFields, describeError, errorLogFields, ExpectedError } from '../../../src/runtime/kube-client.js';
import { createLogger, type LogFormat } from '../../../src/runtime/logging.js';

/** An ApiException as client-node raises it from our transport (which adds the request line). */
function apiError(code: number, status: object, request: string): k8s.ApiException<string> {
  return new k8s.ApiException(code, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', ...status }), {
    'content-type': 'application/json',
    'audit-id': 'f00',
    'x-podgroup-request': request,
  });
}

const invalid = apiError(
  422,
  { reason: 'Invalid', code: 422, message: 'Pod "web-abc" is invalid: spec.containers[0].image: Required value', details: { name: 'web-abc', kind: 'Pod' } },
  'POST /api/v1/namespaces/shop/pods',
);

async function logged(format: LogFormat, err: unknown): Promise<string[]> {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const log = createLogger({ format, stream });
  log.child({ controller: 'podgroup', namespace: 'shop', name: 'web' }).error('reconciler error', { ...errorLogFields(err), retries: 2 });
  await new Promise((resolve) => setImmediate(resolve));
  return text.split('\n').filter((l) => l !== '');
}

describe('API errors in logs', () => {
  it("fields: verb, resource, object, code, reason and the API's message", () => {
    expect(apiErrorFields(invalid)).toEqual({
      verb: 'create',
      resource: 'pods',
      object: 'shop/web-abc',
      code: 422,
      reason: 'Invalid',
      message: 'Pod "web-abc" is invalid: spec.containers[0].image: Required value',
    });
    expect(
      apiErrorFields(
        apiError(
          404,
          { reason: 'NotFound', message: 'podgroups.podgroup.dev "web" not found' },
          'PATCH /apis/podgroup.dev/v1alpha1/namespaces/shop/podgroups/web/status',
        ),
      ),
    ).toMatchObject({
      verb: 'patch',
      resource: 'podgroups/status',
      object: 'shop/web',
    });
    expect(
      describeError(apiError(403, { reason: 'Forbidden', message: 'nodes is forbidden: User "x" cannot list resource "nodes"' }, 'GET /api/v1/nodes')),
    ).toBe('list nodes: 403 Forbidden: nodes is forbidden: User "x" cannot list resource "nodes"');
  });

  it.each(['json', 'text'] as const)('one %s line, no headers, no stack', async (format) => {
    const lines = await logged(format, invalid);
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(line).not.toMatch(/audit-id|content-type|Headers|HTTP-Code|stack|    at /);
    if (format === 'json') {
      expect(JSON.parse(line)).toMatchObject({
        level: 'error',
        message: 'reconciler error',
        error: 'create pods shop/web-abc: 422 Invalid: Pod "web-abc" is invalid: spec.containers[0].image: Required value',
        verb: 'create',
        resource: 'pods',
        code: 422,
        reason: 'Invalid',
        namespace: 'shop',
        name: 'web',
      });
    } else {
      expect(line).toMatch(
        /^\S+ ERROR reconciler error controller=podgroup namespace=shop name=web error="create pods shop\/web-abc: 422 Invalid: Pod \\"web-abc\\" is invalid: spec.containers\[0\].image: Required value" verb=create resource=pods object=shop\/web-abc code=422 reason=Invalid retries=2$/,
      );
    }
  });

  it('a bug keeps its stack; an expected error does not', () => {
    expect(errorLogFields(new TypeError('x is undefined'))).toMatchObject({ error: 'x is undefined', stack: expect.stringContaining('TypeError') });
    expect(errorLogFields(new ExpectedError('creating pods failed: quota'))).toEqual({ error: 'creating pods failed: quota' });
  });
});
