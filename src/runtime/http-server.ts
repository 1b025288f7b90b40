// Servers that do not trust their network: every listener the manager opens (extender, webhook,
// metrics, probes) goes through here, so each has a connection cap, header/request/keep-alive
// timeouts of seconds (Node's defaults are 60 s for headers and 300 s per request), optional
// TLS with client-certificate verification, and bodies read against a per-request limit and a
// per-server budget of bytes in flight — an oversized body gets a 413 with a message, a server
// whose budget is spent answers 429, and neither ever buffers without bound.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface ListenAddress {
  host: string;
  /** 0 picks a free port (tests); read the bound port from the server. */
  port: number;
}

export interface ServerLimits {
  /** Open connections beyond this are refused at accept (server.maxConnections). */
  maxConnections: number;
  /** A request must be received in full within this (server.requestTimeout). */
  requestTimeoutMs: number;
  /** Request headers must arrive within this; also bounds a connection that sends nothing. */
  headersTimeoutMs: number;
  /**
   * How long a connection that has served a request may idle before the next (default 120 s:
   * longer than Go's 90 s IdleConnTimeout, so the API server and kube-scheduler always close
   * first and never send a request on a connection we are closing).
   */
  keepAliveTimeoutMs?: number;
  /** Largest request body accepted. */
  maxBodyBytes: number;
  /** Bytes of request bodies buffered at once across the server (default 4 × maxBodyBytes). */
  maxInflightBodyBytes?: number;
}

/** Limits for servers whose callers send nothing large (probes, metrics scrapes). */
export const SMALL_REQUEST_LIMITS: Omit<ServerLimits, 'maxConnections' | 'requestTimeoutMs' | 'headersTimeoutMs'> = { maxBodyBytes: 16 * 1024 };

export interface ServerTls {
  certPem: string;
  keyPem: string;
  /**
   * CA certificates (PEM) that client certificates must chain to: with it, a client without a
   * valid certificate is refused during the TLS handshake.
   */
  clientCaPem?: string;
}

/** An error with the HTTP status it should be answered with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Bytes of request bodies buffered at once, shared by a server's requests. */
class BodyBudget {
  private used = 0;
  constructor(private readonly max: number) {}

  take(bytes: number): boolean {
    if (this.used + bytes > this.max) {
      return false;
    }
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/**
 * How often Node checks the header and request timeouts (its default, 30 s, would defeat them).
 * A constructor option: set on the server afterwards it also stops idle sockets timing out.
 */
const CHECK_INTERVAL_MS = 1_000;
const DEFAULT_KEEP_ALIVE_MS = 120_000;

const budgets = new WeakMap<Server, BodyBudget>();
const limitsOf = new WeakMap<Server, ServerLimits>();

/** Listens with the limits (and TLS, if given) applied; rejects with the address on failure. */
export function listen(name: string, address: ListenAddress, limits: ServerLimits, handler: Handler, tls?: ServerTls): Promise<Server> {
  const server: Server =
    tls === undefined
      ? createHttpServer(
          { requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: CHECK_INTERVAL_MS },
          handler,
        )
      : createHttpsServer(
          {
            cert: tls.certPem,
            key: tls.keyPem,
            ...(tls.clientCaPem === undefined ? {} : { ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: true }),
            // A TCP connection that never completes a handshake is dropped after this.
            handshakeTimeout: limits.headersTimeoutMs,
            requestTimeout: limits.requestTimeoutMs,
            headersTimeout: limits.headersTimeoutMs,
            connectionsCheckingInterval: CHECK_INTERVAL_MS,
          },
          handler,
        );
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS;
  enforceDeadlines(server, limits);
  budgets.set(server, new BodyBudget(limits.maxInflightBodyBytes ?? 4 * limits.maxBodyBytes));
  limitsOf.set(server, limits);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`${name} cannot listen on ${address.host}:${address.port}: ${err.message}`)));
    server.listen(address.port, address.host, () => resolve(server));
  });
}

/**
 * Closes connections that never complete a request's headers within headersTimeoutMs, that idle
 * after an answer longer than keepAliveTimeoutMs, and requests whose body has not arrived within
 * requestTimeoutMs. Node's own header/keep-alive timeouts do
 * not cover a connection that never sends anything and, measured here, did not fire reliably,
 * so one ref'd check per server does it (stopped when the server closes).
 */
function enforceDeadlines(server: Server, limits: ServerLimits): void {
  const keepAliveMs = limits.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS;
  const sockets = new Map<Socket, { idleSince: number | undefined; served: boolean; requestSince: number; request: IncomingMessage | undefined }>();
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { idleSince: Date.now(), served: false, requestSince: 0, request: undefined });
    socket.once('close', () => sockets.delete(socket));
  });
  // For TLS servers 'connection' carries the TCP socket and 'request' the TLS one: track both.
  server.on('secureConnection', (socket: Socket & { _parent?: Socket }) => {
    // The handshake is done: from now on the TLS socket is the one to watch (its TCP socket,
    // Node's _parent, is dropped from the watch so it is not taken for an idle one).
    if (socket._parent !== undefined) {
      sockets.delete(socket._parent);
    }
    sockets.set(socket, { idleSince: Date.now(), served: false, requestSince: 0, request: undefined });
    socket.once('close', () => sockets.delete(socket));
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = sockets.get(req.socket);
    if (state === undefined) {
      return;
    }
    state.idleSince = undefined;
    state.requestSince = Date.now();
    state.request = req;
    res.once('finish', () => {
      state.idleSince = Date.now();
      state.served = true;
      state.request = undefined;
    });
  });
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [socket, state] of sockets) {
      const idleTooLong = state.idleSince !== undefined && now - state.idleSince > (state.served ? keepAliveMs : limits.headersTimeoutMs);
      const bodyTooSlow = state.request !== undefined && !state.request.complete && now - state.requestSince > limits.requestTimeoutMs;
      if (idleTooLong || bodyTooSlow) {
        socket.destroy();
        sockets.delete(socket);
      }
    }
  }, CHECK_INTERVAL_MS);
  server.once('close', () => clearInterval(timer));
}

/** Swaps the serving certificate (and client CA) for new connections; open ones keep theirs. */
export function updateTls(server: Server, tls: ServerTls): void {
  (server as Server & { setSecureContext(options: object): void }).setSecureContext({
    cert: tls.certPem,
    key: tls.keyPem,
    ...(tls.clientCaPem === undefined ? {} : { ca: tls.clientCaPem }),
  });
}

/**
 * Common names read per TLS 1.3 connection: 1.3 has no renegotiation, so a connection's peer
 * certificate never changes, and getPeerCertificate (which decodes the whole certificate) runs
 * once per connection instead of once per request on a kept-alive one.
 */
const commonNames = new WeakMap<TLSSocket, string | undefined>();

/** The verified client certificate's common name (only on a server with clientCaPem). */
export function clientCommonName(req: IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) {
    return undefined;
  }
  if (commonNames.has(socket)) {
    return commonNames.get(socket);
  }
  const cn = socket.getPeerCertificate().subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (socket.getProtocol() === 'TLSv1.3') {
    commonNames.set(socket, name);
  }
  return name;
}

/**
 * Reads the whole body within the server's limits. Over maxBodyBytes: a 413, after the rest of
 * the body has been read and dropped (so the client can read the answer; the request timeout
 * bounds a client that never stops); over the in-flight budget: a 429. A body counts against
 * the budget until its answer has been sent.
 */
export function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
  const server = (req.socket as { server?: Server }).server;
  const limits = server === undefined ? undefined : limitsOf.get(server);
  const budget = server === undefined ? undefined : budgets.get(server);
  if (limits === undefined || budget === undefined) {
    return Promise.reject(new Error('readBody: the request did not come through http-server.listen'));
  }
  const limit = limits.maxBodyBytes;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let held = 0;
    const declared = Number(req.headers['content-length'] ?? 0);
    // A body announced too large is not buffered at all, but still read to its end, so the client
    // (still sending) gets to read the 413.
    let failure: HttpError | undefined =
      declared > limit ? new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`) : undefined;
    const release = (): void => {
      budget.give(held);
      held = 0;
      chunks.length = 0;
    };
    req.on('data', (chunk: Buffer) => {
      if (failure !== undefined) {
        return;
      }
      if (held + chunk.length > limit) {
        failure = new HttpError(413, `request body exceeds the limit of ${limit} bytes`);
      } else if (!budget.take(chunk.length)) {
        failure = new HttpError(429, 'too many large requests in flight; retry shortly');
      } else {
        held += chunk.length;
        chunks.push(chunk);
        return;
      }
      release();
    });
    req.on('error', (err) => {
      release();
      reject(new HttpError(400, `reading the request failed: ${err.message}`));
    });
    req.on('end', () => {
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      const body = Buffer.concat(chunks);
      chunks.length = 0;
      // The body stays in memory (and parsed) until the answer is sent: count it until then.
      res.once('close', release);
      resolve(body);
    });
  });
}

/** Sends a JSON answer; a 413 or 429 also closes the connection. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    return;
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (status === 413 || status === 429) {
    headers.Connection = 'close';
    if (status === 429) {
      headers['Retry-After'] = '1';
    }
  }
  res.writeHead(status, headers).end(JSON.stringify(body));
}

/** Stops accepting, ends open connections, and resolves once the server is closed. */
export function close(server: Server | undefined): Promise<void> {
  if (server === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** tls.crt and tls.key from a directory (a mounted Secret, e.g. cert-manager's). */
export function readCertDir(dir: string): ServerTls {
  return { certPem: readFileSync(join(dir, 'tls.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'tls.key'), 'utf8') };
}

/**
 * A mounted Secret changes in place when its certificate is renewed: checks the directory every
 * interval and hands a changed certificate to onChange. Returns the stop function.
 */
export function watchCertDir(dir: string, intervalMs: number, onChange: (tls: ServerTls) => void, onError: (err: unknown) => void): () => void {
  let current = readCertDir(dir).certPem;
  const timer = setInterval(() => {
    try {
      const tls = readCertDir(dir);
      if (tls.certPem !== current) {
        current = tls.certPem;
        onChange(tls);
      }
    } catch (err) {
      onError(err);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
