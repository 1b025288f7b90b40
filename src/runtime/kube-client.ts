// The client boundary: typed API clients that share one client-side rate limit (like
// client-go's --kube-api-qps/--kube-api-burst) and count every request in
// rest_client_requests_total. Every request has a deadline, and is also aborted when the
// AbortSignal of the scope it was made in aborts (withAbortSignal: a reconcile on shutdown or
// lost leadership, a lease renew at its renew deadline). Hot paths send and receive plain JSON
// (requestJson, requestOutcome) instead of going through client-node's typed serializer; either
// way everything above this file sees typed objects only.
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { TokenBucket } from './rate-limiter.js';
import { restClientRequests, restClientLatency } from './metrics.js';
import { watchEvents, type WatchEvent } from './watch-stream.js';

/**
 * Connections per API server (HTTP/1.1: one request in flight per connection). client-go
 * multiplexes everything over one HTTP/2 connection; unbounded, a 500-pod burst would open
 * hundreds of TLS connections and the API server would spend its CPU on handshakes.
 */
const MAX_SOCKETS = 64;

export interface ClientOptions {
  /** Sustained requests per second; 0 or less disables client-side throttling. */
  qps: number;
  burst: number;
  /** Deadline of each request (watches do not come through here). Default 30 s. */
  timeoutMs?: number;
}

/**
 * client-go's transport notices a dead connection within ~45 s (HTTP/2 pings after 30 s idle,
 * 15 s ping timeout) and kubectl's --request-timeout is off by default; one deadline per request
 * bounds both a black-holed connection and a slow answer.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const scope = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs fn so that every API request it makes (in any async continuation) is aborted when signal
 * aborts. Scopes nest: a request is aborted by whichever signal aborts first.
 */
export function withAbortSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const outer = scope.getStore();
  return scope.run(outer === undefined ? signal : AbortSignal.any([outer, signal]), fn);
}

/** Pseudo-header the transport adds to error responses: "METHOD /path" of the request. */
const REQUEST_HEADER = 'x-podgroup-request';

type ApiConstructor<T> = new (config: k8s.Configuration) => T;

type Query = Record<string, string | number | boolean | undefined>;

export type JsonMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface JsonRequest {
  /** Query parameters; undefined and empty values are left out. */
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Default application/json; a PATCH names its kind (PATCH_TYPE). */
  contentType?: string;
}

/** The content types of the API server's three kinds of PATCH. */
export const PATCH_TYPE = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategicMerge: 'application/strategic-merge-patch+json',
} as const;

/** Creates API clients for one KubeConfig, all behind the same throttle and metrics. */
export class KubeClients {
  private readonly throttle: TokenBucket | undefined;
  private readonly config: k8s.Configuration;
  private readonly send: (request: k8s.RequestContext) => Promise<k8s.ResponseContext>;
  /** Ordinary requests: at most MAX_SOCKETS connections per TLS material. */
  private readonly requestAgents = new AgentPool(MAX_SOCKETS);
  /**
   * Watches hold their connection for minutes, so they get agents of their own: a few dozen
   * informers must not take the sockets that reconciles need. No socket cap: one per watch.
   */
  private readonly watchAgents = new AgentPool(Infinity);
  private authenticating: Promise<k8s.RequestContext> | undefined;
  private readonly timeoutMs: number;
  readonly host: string;
  /** The API server's URL without a trailing slash. */
  private readonly server: string;

  constructor(
    readonly kubeConfig: k8s.KubeConfig,
    options: ClientOptions,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) {
      throw new Error('the kubeconfig has no current cluster');
    }
    this.host = new URL(cluster.server).host;
    this.server = cluster.server.replace(/\/$/, '');
    this.throttle = options.qps > 0 ? new TokenBucket(options.qps, Math.max(1, options.burst)) : undefined;
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.timeoutMs = timeoutMs;
    const send = async (request: k8s.RequestContext): Promise<k8s.ResponseContext> => {
      const scoped = scope.getStore();
      scoped?.throwIfAborted();
      if (this.throttle !== undefined) {
        await this.throttle.take();
      }
      const method = request.getHttpMethod();
      const started = performance.now();
      // The deadline is a timer in sendOverAgent; a signal (and a combined one) only when there are aborts to follow.
      const signals = [scoped, request.getSignal()].filter((s): s is AbortSignal => s !== undefined);
      const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      try {
        const response = await sendOverAgent(request, this.requestAgents.agentFor(request), signal, timeoutMs);
        if (response.httpStatusCode >= 400) {
          // client-node's ApiException keeps the status, body and headers but not the request:
          // carry the request line in a pseudo-header so an error log can name the verb and object.
          response.headers[REQUEST_HEADER] = `${method} ${new URL(request.getUrl()).pathname}`;
        }
        restClientRequests.inc({ code: String(response.httpStatusCode), method, host: this.host });
        restClientLatency.observe({ verb: method, host: this.host }, (performance.now() - started) / 1000);
        return response;
      } catch (err) {
        restClientRequests.inc({ code: '<error>', method, host: this.host });
        throw err;
      }
    };
    this.send = send;
    this.config = k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
      httpApi: k8s.wrapHttpLibrary({ send }),
    });
  }

  /**
   * GET of an API path answered as the plain JSON the API server sent (as watch events arrive), not
   * through client-node's typed deserializer, which builds a class instance per nested object and a
   * Date per timestamp.
   */
  getJson<T>(path: string, query: Query = {}): Promise<T> {
    return this.requestJson<T>('GET', path, { query });
  }

  /**
   * One request with a plain JSON body and answer, past client-node's typed (de)serializer (on the
   * controller's writes, a walk over every field of every pod sent and received). Same
   * credentials, throttle, deadline, abort scope and metrics as the typed clients; an error answer
   * throws the ApiException they throw, so statusCode, isAlreadyExists and describeError apply alike.
   */
  async requestJson<T>(method: JsonMethod, path: string, options: JsonRequest = {}): Promise<T> {
    const answer = await this.exchange(method, path, options);
    return (answer === '' ? undefined : JSON.parse(answer)) as T;
  }

  /** As requestJson, for a caller that needs only the outcome: the answer (the whole object written) is not parsed. */
  async requestOutcome(method: JsonMethod, path: string, options: JsonRequest = {}): Promise<void> {
    await this.exchange(method, path, options);
  }

  /** Sends the request; resolves to the answer's text, or throws the API's error answer as an ApiException. */
  private async exchange(method: JsonMethod, path: string, options: JsonRequest): Promise<string> {
    const url = this.url(path, options.query ?? {});
    const request = new k8s.RequestContext(url.toString(), k8s.HttpMethod[method]);
    request.setHeaderParam('Accept', 'application/json');
    if (options.body !== undefined) {
      request.setHeaderParam('Content-Type', options.contentType ?? 'application/json');
      request.setBody(JSON.stringify(options.body));
    }
    await this.authenticate(request);
    const response = await this.send(request);
    const body = await response.body.text();
    if (response.httpStatusCode >= 400) {
      throw new k8s.ApiException<string>(response.httpStatusCode, `${method} ${url.pathname}: HTTP ${response.httpStatusCode}`, body, response.headers);
    }
    return body;
  }

  /**
   * The kubeconfig's credentials onto a request. client-node reads the certificate files (or
   * decodes their base64) and builds an agent on every call; requests started together (a burst
   * of creates or deletes) share one such pass. Each pass still reads the kubeconfig afresh, so
   * rotated certificates and refreshed tokens are picked up as before.
   */
  private async authenticate(request: k8s.RequestContext): Promise<void> {
    let pending = this.authenticating;
    if (pending === undefined) {
      const scratch = new k8s.RequestContext(this.server, k8s.HttpMethod.GET);
      pending = this.kubeConfig.applySecurityAuthentication(scratch).then(() => scratch);
      this.authenticating = pending;
      const settled = (): void => {
        if (this.authenticating === pending) {
          this.authenticating = undefined;
        }
      };
      pending.then(settled, settled);
    }
    const credentials = await pending;
    for (const [name, value] of Object.entries(credentials.getHeaders())) {
      request.setHeaderParam(name, value);
    }
    const agent = credentials.getAgent();
    if (agent !== undefined) {
      request.setAgent(agent);
    }
  }

  /**
   * Opens a watch (GET ?watch=true) of an API path and resolves once the API server has answered
   * with its headers (within the request deadline), with the events as plain objects. Same auth,
   * throttle and metrics as every request; an error answer throws the ApiException the typed
   * clients throw. The stream lasts until the server ends it (timeoutSeconds) or `signal` aborts.
   */
  async watchJson<T>(path: string, query: Query, signal: AbortSignal): Promise<AsyncGenerator<WatchEvent<T>>> {
    const url = this.url(path, { ...query, watch: true });
    const request = new k8s.RequestContext(url.toString(), k8s.HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    await this.authenticate(request);
    signal.throwIfAborted();
    if (this.throttle !== undefined) {
      await this.throttle.take();
    }
    const started = performance.now();
    try {
      const response = await openStream(request, this.watchAgents.agentFor(request), signal, this.timeoutMs);
      const code = response.statusCode ?? 0;
      restClientRequests.inc({ code: String(code), method: 'GET', host: this.host });
      restClientLatency.observe({ verb: 'GET', host: this.host }, (performance.now() - started) / 1000);
      if (code >= 400) {
        const body = await readAll(response, AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]));
        throw new k8s.ApiException<string>(code, `GET ${url.pathname}: HTTP ${code}`, body, {
          [REQUEST_HEADER]: `GET ${url.pathname}`,
        });
      }
      return watchEvents<T>(response);
    } catch (err) {
      if (!(err instanceof k8s.ApiException)) {
        restClientRequests.inc({ code: '<error>', method: 'GET', host: this.host });
      }
      throw err;
    }
  }

  private url(path: string, query: Query): URL {
    const url = new URL(`${this.server}${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') {
        url.searchParams.set(name, String(value));
      }
    }
    return url;
  }

  api<T>(type: ApiConstructor<T>): T {
    return new type(this.config);
  }

  /** Closes pooled connections (on shutdown). */
  close(): void {
    this.requestAgents.close();
    this.watchAgents.close();
  }
}

/** Keep-alive agents shared by every request with the same TLS material. */
class AgentPool {
  /** The shared agent per TLS material, oldest first. */
  private readonly agents: Array<{ material: unknown[]; agent: http.Agent }> = [];
  /** client-node's agent of a request → the shared one (requests that shared a credentials pass share its agent). */
  private readonly sharedFor = new WeakMap<http.Agent, http.Agent>();
  /** For a plain-HTTP API server (no TLS material). */
  private readonly plainAgent: http.Agent;

  constructor(private readonly maxSockets: number) {
    this.plainAgent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * client-node gives every request a new https.Agent, so every call would pay a TLS handshake and
   * build a new TLS context (a quarter of the manager's CPU in a profile of a 1000-pod scale-up).
   * Requests with the same TLS material share one keep-alive agent and one TLS context instead;
   * credentials in headers (bearer tokens) are still set per request, so token refresh keeps working.
   * The material is compared as it is (buffers byte for byte), not turned into a text key per request.
   */
  agentFor(request: k8s.RequestContext): http.Agent {
    const agent = request.getAgent();
    const proxied = agent !== undefined && agent.constructor !== https.Agent && agent.constructor !== http.Agent;
    if (!(agent instanceof https.Agent) && !proxied) {
      return this.plainAgent;
    }
    const known = this.sharedFor.get(agent as http.Agent);
    if (known !== undefined && this.agents.some((entry) => entry.agent === known)) {
      return known;
    }
    const o = (agent as https.Agent).options;
    const material = [proxied, o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername];
    let shared = this.agents.find((entry) => sameMaterial(entry.material, material))?.agent;
    if (shared === undefined) {
      if (this.agents.length >= 4) {
        // TLS material changed (e.g. a rotated client certificate): retire the oldest agent.
        const oldest = this.agents.shift();
        oldest?.agent.destroy();
      }
      if (proxied) {
        // The kubeconfig's proxy-url: client-node built a proxy agent (HTTP CONNECT or SOCKS) that
        // carries the proxy settings; keep the first one per TLS material so connections are reused.
        shared = agent as http.Agent;
      } else {
        const { ca, cert, key, pfx, passphrase } = o;
        shared = new https.Agent({
          ...o,
          keepAlive: true,
          maxSockets: this.maxSockets,
          // One TLS context for every connection (tls.connect would otherwise parse the key per socket).
          secureContext: tls.createSecureContext({ ca, cert, key, pfx, passphrase }),
        });
      }
      this.agents.push({ material, agent: shared });
    }
    this.sharedFor.set(agent as http.Agent, shared);
    return shared;
  }

  close(): void {
    for (const { agent } of this.agents) {
      agent.destroy();
    }
    this.agents.length = 0;
    this.plainAgent.destroy();
  }
}

/** Whether two lists of TLS settings are equal: buffers by content, lists element by element. */
function sameMaterial(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) {
    return a.equals(b);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameMaterial(v, b[i]));
  }
  return a === b;
}

/**
 * Sends one request over a pooled agent and reads the whole response. Not node-fetch: with a
 * keep-alive agent it can report a complete response as "Premature close" once the socket is
 * reused (node-fetch#1767), which made pods that were created look like failed creates.
 */
function sendOverAgent(request: k8s.RequestContext, agent: http.Agent, signal: AbortSignal | undefined, timeoutMs: number): Promise<k8s.ResponseContext> {
  const body = request.getBody();
  if (body !== undefined && typeof body !== 'string') {
    // The Kubernetes API takes JSON bodies only; client-node never builds forms for it.
    return Promise.reject(new Error(`unsupported request body: ${Object.prototype.toString.call(body)}`));
  }
  const url = new URL(request.getUrl());
  const headers: http.OutgoingHttpHeaders = { ...request.getHeaders() };
  if (body !== undefined) {
    headers['content-length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method: request.getHttpMethod(), headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('close', () => {
        clearTimeout(deadline);
        if (!res.complete) {
          reject(new Error(`${request.getHttpMethod()} ${url.pathname}: the connection closed before the response was complete`));
          return;
        }
        const responseHeaders: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          responseHeaders[name] = Array.isArray(value) ? value.join(', ') : (value ?? '');
        }
        resolve(new k8s.ResponseContext(res.statusCode ?? 0, responseHeaders, new k8s.SelfDecodingBody(Promise.resolve(Buffer.concat(chunks)))));
      });
    });
    // A timer, not AbortSignal.timeout: one signal and one combined signal less per request
    // (unref'd as that one is: it never keeps the process alive by itself).
    const deadline = setTimeout(() => req.destroy(new Error(`${request.getHttpMethod()} ${url.pathname}: no answer within ${timeoutMs} ms`)), timeoutMs);
    deadline.unref();
    req.on('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end(body);
  });
}

/**
 * Sends a GET and resolves with the response as soon as its headers arrive (within timeoutMs);
 * the body is the caller's to read. Aborting `signal` destroys the request and its response.
 */
function openStream(request: k8s.RequestContext, agent: http.Agent, signal: AbortSignal, timeoutMs: number): Promise<http.IncomingMessage> {
  const url = new URL(request.getUrl());
  return new Promise((resolve, reject) => {
    const headersDeadline = new AbortController();
    const timer = setTimeout(() => headersDeadline.abort(), timeoutMs);
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'GET', headers: { ...request.getHeaders() }, agent, signal: AbortSignal.any([signal, headersDeadline.signal]) },
      (res) => {
        clearTimeout(timer);
        resolve(res);
      },
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(headersDeadline.signal.aborted && !signal.aborted ? new Error(`GET ${url.pathname}: no answer within ${timeoutMs} ms`) : err);
    });
    req.end();
  });
}

/** The whole body of a (short) response, e.g. the Status of an error answer. */
async function readAll(response: http.IncomingMessage, signal: AbortSignal): Promise<string> {
  const onAbort = (): void => void response.destroy(new Error('reading the response body timed out'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of response) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    signal.removeEventListener('abort', onAbort);
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

/** An API error in the terms of an audit log: verb, resource, object, HTTP code, reason, message. */
export interface ApiErrorFields {
  verb: string;
  resource: string;
  /** namespace/name, name, or "" for a collection. */
  object: string;
  code: number;
  reason: string;
  message: string;
}

const VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** The fields of a client-node ApiException (undefined for anything else, e.g. a network error). */
export function apiErrorFields(err: unknown): ApiErrorFields | undefined {
  if (!(err instanceof k8s.ApiException)) {
    return undefined;
  }
  const status = apiStatus(err) as (ApiStatus & { message?: string; details?: { name?: string; kind?: string } }) | undefined;
  const [method = '', path = ''] = String((err.headers as Record<string, unknown> | undefined)?.[REQUEST_HEADER] ?? '').split(' ');
  // /api/v1/namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]] or /apis/GROUP/VERSION/..., cluster-scoped without namespaces/NS.
  const parts = path.split('/').filter((p) => p !== '');
  const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  const namespace = rest[0] === 'namespaces' && rest.length > 2 ? rest[1] : undefined;
  const [resource = status?.details?.kind ?? '', name = status?.details?.name ?? '', sub] = namespace === undefined ? rest : rest.slice(2);
  const verb = method === 'GET' ? (name === '' ? 'list' : 'get') : (VERBS[method] ?? (method.toLowerCase() || 'request'));
  return {
    verb: name === '' && method === 'DELETE' ? 'deletecollection' : verb,
    resource: sub === undefined ? resource : `${resource}/${sub}`,
    object: name === '' ? (namespace ?? '') : namespace === undefined ? name : `${namespace}/${name}`,
    code: err.code,
    reason: status?.reason ?? '',
    message: errorMessage(err),
  };
}

/** One line for any error: "patch pods ns/x: 422 Invalid: <the API's message>" for an API answer. */
export function describeError(err: unknown): string {
  const api = apiErrorFields(err);
  if (api !== undefined) {
    const target = [api.resource, api.object].filter((s) => s !== '').join(' ');
    return `${api.verb} ${target}: ${api.code}${api.reason === '' ? '' : ` ${api.reason}`}: ${api.message}`.replace(/\s*\n\s*/g, ' ');
  }
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ');
}

/**
 * Log fields for an error: one line, and the API's verb/code/reason when it is an API answer (an
 * expected outcome: no stack, no response headers); the stack only for anything else (a bug).
 */
export function errorLogFields(err: unknown): Record<string, unknown> {
  const api = apiErrorFields(err);
  if (api !== undefined) {
    return { error: describeError(err), verb: api.verb, resource: api.resource, object: api.object, code: api.code, reason: api.reason };
  }
  return { error: describeError(err), ...(err instanceof Error && !(err instanceof ExpectedError) ? { stack: err.stack } : {}) };
}

/** An error that explains itself (logged without a stack). */
export class ExpectedError extends Error {}

interface ApiStatus {
  reason?: string;
  details?: { causes?: Array<{ reason?: string }> };
}

/** The API server's Status object carried by a client-node ApiException, if its body is one. */
function apiStatus(err: unknown): ApiStatus | undefined {
  if (!(err instanceof k8s.ApiException) || typeof err.body !== 'string') {
    return undefined;
  }
  try {
    return JSON.parse(err.body) as ApiStatus;
  } catch {
    return undefined;
  }
}

/** The API refused because the namespace is being deleted (nothing new may be created there). */
export function isNamespaceTerminating(err: unknown): boolean {
  return statusCode(err) === 403 && (apiStatus(err)?.details?.causes?.some((c) => c.reason === 'NamespaceTerminating') ?? false);
}

export const isAlreadyExists = (err: unknown): boolean => statusCode(err) === 409 && apiStatus(err)?.reason === 'AlreadyExists';
export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;

/** Options for client-node calls that send a merge patch instead of the default JSON Patch. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
