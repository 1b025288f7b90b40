// The client boundary: typed API clients that share one client-side rate limit (like
// client-go's --kube-api-qps/--kube-api-burst) and count every request in
// rest_client_requests_total. Everything above this file sees typed objects only.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { TokenBucket } from './rate-limiter.js';
import { restClientRequests, restClientLatency } from './metrics.js';

export interface ClientOptions {
  /** Sustained requests per second; 0 or less disables client-side throttling. */
  qps: number;
  burst: number;
}

type ApiConstructor<T> = new (config: k8s.Configuration) => T;

/** Creates API clients for one KubeConfig, all behind the same throttle and metrics. */
export class KubeClients {
  private readonly throttle: TokenBucket | undefined;
  private readonly config: k8s.Configuration;
  private readonly agents = new Map<string, https.Agent>();
  readonly host: string;

  constructor(
    readonly kubeConfig: k8s.KubeConfig,
    options: ClientOptions,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) {
      throw new Error('the kubeconfig has no current cluster');
    }
    this.host = new URL(cluster.server).host;
    this.throttle = options.qps > 0 ? new TokenBucket(options.qps, Math.max(1, options.burst)) : undefined;
    const base = k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
    });
    const inner = base.httpApi;
    const send = async (request: k8s.RequestContext): Promise<k8s.ResponseContext> => {
      if (this.throttle !== undefined) {
        await this.throttle.take();
      }
      this.reuseConnections(request);
      const method = request.getHttpMethod();
      const started = performance.now();
      try {
        const response = await inner.send(request).toPromise();
        restClientRequests.inc({ code: String(response.httpStatusCode), method, host: this.host });
        restClientLatency.observe({ verb: method, host: this.host }, (performance.now() - started) / 1000);
        return response;
      } catch (err) {
        restClientRequests.inc({ code: '<error>', method, host: this.host });
        throw err;
      }
    };
    this.config = k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
      httpApi: k8s.wrapHttpLibrary({ send }),
    });
  }

  api<T>(type: ApiConstructor<T>): T {
    return new type(this.config);
  }

  /** Closes pooled connections (on shutdown). */
  close(): void {
    for (const agent of this.agents.values()) {
      agent.destroy();
    }
    this.agents.clear();
  }

  /**
   * client-node gives every request a new https.Agent, so every call pays a TLS handshake and
   * builds a new TLS context (a quarter of the manager's CPU in a profile of a 1000-pod scale-up).
   * Requests with the same TLS material share one keep-alive agent instead; credentials in
   * headers (bearer tokens) are still set per request, so token refresh keeps working.
   */
  private reuseConnections(request: k8s.RequestContext): void {
    const agent = request.getAgent();
    if (!(agent instanceof https.Agent)) {
      return;
    }
    const o = agent.options;
    const key = JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername].map((v) => (v === undefined ? null : String(v))));
    let shared = this.agents.get(key);
    if (shared === undefined) {
      if (this.agents.size >= 4) {
        // TLS material changed (e.g. a rotated client certificate): retire the oldest agent.
        const [oldestKey, oldest] = this.agents.entries().next().value as [string, https.Agent];
        oldest.destroy();
        this.agents.delete(oldestKey);
      }
      shared = new https.Agent({ ...o, keepAlive: true });
      this.agents.set(key, shared);
    }
    request.setAgent(shared);
  }
}

/** The HTTP status of a client-node error, if it carries one. */
export function statusCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === 'number') {
      return e.code;
    }
    if (typeof e.statusCode === 'number') {
      return e.statusCode;
    }
  }
  return undefined;
}

/** The API server's message from a client-node ApiException (its body is a JSON string). */
export function errorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') {
          return parsed.message;
        }
      } catch {
        return body;
      }
    }
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The API refused because the namespace is being deleted (nothing new may be created there). */
export function isNamespaceTerminating(err: unknown): boolean {
  if (!(err instanceof k8s.ApiException) || err.code !== 403 || typeof err.body !== 'string') {
    return false;
  }
  try {
    const status = JSON.parse(err.body) as { details?: { causes?: Array<{ reason?: string }> } };
    return status.details?.causes?.some((c) => c.reason === 'NamespaceTerminating') ?? false;
  } catch {
    return false;
  }
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;

/** Options for client-node calls that send a merge patch instead of the default JSON Patch. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
