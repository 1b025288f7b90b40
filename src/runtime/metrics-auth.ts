// Authentication and authorization for /metrics, as controller-runtime's
// filters.WithAuthenticationAndAuthorization does: the caller's bearer token goes to a
// TokenReview, the user it names to a SubjectAccessReview for the non-resource request
// (`get /metrics`). No token or a rejected one → 401; a user without the right → 403. Decisions
// are cached briefly (by a hash of the token, bounded in size), like the API server's delegating
// authenticator, so a scrape every few seconds costs no API calls.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { BoundedMap } from './bounded-map.js';
import { errorMessage, type KubeClients } from './kube-client.js';

export type AccessDecision = { allowed: true; user: string } | { allowed: false; status: 401 | 403; message: string };

/** The two reviews the check needs (the API clients satisfy it; unit tests pass a fake). */
export interface ReviewClient {
  tokenReview(token: string): Promise<{ authenticated: boolean; user?: k8s.V1UserInfo; error?: string }>;
  subjectAccessReview(user: k8s.V1UserInfo, path: string, verb: string): Promise<{ allowed: boolean; reason?: string }>;
}

const ALLOWED_TTL_MS = 60_000;
const DENIED_TTL_MS = 10_000;
const CACHE_BYTES = 1024 * 1024;

export function apiReviewClient(clients: KubeClients): ReviewClient {
  const authn = clients.api(k8s.AuthenticationV1Api);
  const authz = clients.api(k8s.AuthorizationV1Api);
  return {
    async tokenReview(token) {
      const review = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
      return { authenticated: review.status?.authenticated === true, user: review.status?.user, error: review.status?.error };
    },
    async subjectAccessReview(user, path, verb) {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, nonResourceAttributes: { path, verb } },
        },
      });
      return { allowed: review.status?.allowed === true, reason: review.status?.reason };
    },
  };
}

export class MetricsAuthorizer {
  private readonly allowedCache = new BoundedMap<string, AccessDecision>(CACHE_BYTES, ALLOWED_TTL_MS);
  private readonly deniedCache = new BoundedMap<string, AccessDecision>(CACHE_BYTES, DENIED_TTL_MS);

  constructor(private readonly reviews: ReviewClient) {}

  /** The decision for a request with this Authorization header to `verb path`. */
  async check(authorization: string | undefined, path: string, verb = 'get'): Promise<AccessDecision> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) {
      return { allowed: false, status: 401, message: 'Unauthorized: a bearer token is required' };
    }
    const key = `${createHash('sha256')
      .update(match[1] ?? '')
      .digest('hex')} ${verb} ${path}`;
    const cached = this.allowedCache.get(key) ?? this.deniedCache.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const decision = await this.review(match[1] ?? '', path, verb);
    (decision.allowed ? this.allowedCache : this.deniedCache).set(key, decision, 256 + key.length * 2);
    return decision;
  }

  private async review(token: string, path: string, verb: string): Promise<AccessDecision> {
    let authn;
    try {
      authn = await this.reviews.tokenReview(token);
    } catch (err) {
      throw new Error(`TokenReview failed: ${errorMessage(err)}`);
    }
    if (!authn.authenticated || authn.user === undefined) {
      return { allowed: false, status: 401, message: `Unauthorized${authn.error ? `: ${authn.error}` : ''}` };
    }
    let authz;
    try {
      authz = await this.reviews.subjectAccessReview(authn.user, path, verb);
    } catch (err) {
      throw new Error(`SubjectAccessReview failed: ${errorMessage(err)}`);
    }
    const user = authn.user.username ?? '';
    if (!authz.allowed) {
      return {
        allowed: false,
        status: 403,
        message: `Forbidden: user ${JSON.stringify(user)} may not ${verb} ${path}${authz.reason ? ` (${authz.reason})` : ''}`,
      };
    }
    return { allowed: true, user };
  }
}
