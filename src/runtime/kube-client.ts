// The client boundary: typed API clients that share one client-side rate limit (like
// client-go's --kube-api-qps/--kube-api-burst) and count every request in
// rest_client_requests_total. Everything above this file sees typed objects only.
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
export const isAlreadyExists = isConflict;

/** Options for client-node calls that send a merge patch instead of the default JSON Patch. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
