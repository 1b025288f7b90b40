import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { MetricsAuthorizer, type ReviewClient } from '../../../src/runtime/metrics-auth.js';

/** Records every review; tokens "reader" and "nobody" are valid users, only reader may get /metrics. */
function fakeReviews(): ReviewClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async tokenReview(token) {
      calls.push(`tokenreview ${token}`);
      return token === 'reader' || token === 'nobody'
        ? { authenticated: true, user: { username: `system:serviceaccount:ns:${token}`, groups: ['system:serviceaccounts'] } }
        : { authenticated: false, error: 'invalid bearer token' };
    },
    async subjectAccessReview(user: k8s.V1UserInfo, path, verb) {
      calls.push(`sar ${user.username} ${verb} ${path}`);
      return user.username?.endsWith(':reader') === true ? { allowed: true } : { allowed: false, reason: 'no RBAC policy matched' };
    },
  };
}

describe('MetricsAuthorizer', () => {
  it('answers 401 without a token or with a rejected one, 403 without the right, allows the reader', async () => {
    const reviews = fakeReviews();
    const auth = new MetricsAuthorizer(reviews);
    expect(await auth.check(undefined, '/metrics')).toMatchObject({ allowed: false, status: 401 });
    expect(await auth.check('Basic abc', '/metrics')).toMatchObject({ allowed: false, status: 401 });
    expect(await auth.check('Bearer forged', '/metrics')).toMatchObject({ allowed: false, status: 401, message: 'Unauthorized: invalid bearer token' });
    expect(await auth.check('Bearer nobody', '/metrics')).toMatchObject({
      allowed: false,
      status: 403,
      message: expect.stringContaining('may not get /metrics'),
    });
    expect(await auth.check('Bearer reader', '/metrics')).toEqual({ allowed: true, user: 'system:serviceaccount:ns:reader' });
    expect(reviews.calls).toEqual([
      'tokenreview forged',
      'tokenreview nobody',
      'sar system:serviceaccount:ns:nobody get /metrics',
      'tokenreview reader',
      'sar system:serviceaccount:ns:reader get /metrics',
    ]);
  });

  it('caches decisions, so repeated scrapes cost no reviews', async () => {
    const reviews = fakeReviews();
    const auth = new MetricsAuthorizer(reviews);
    for (let i = 0; i < 5; i += 1) {
      expect((await auth.check('Bearer reader', '/metrics')).allowed).toBe(true);
      expect((await auth.check('Bearer nobody', '/metrics')).allowed).toBe(false);
    }
    expect(reviews.calls).toHaveLength(4);
  });
});
