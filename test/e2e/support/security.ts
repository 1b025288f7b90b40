// What the security e2e tests need: HTTPS requests with or without a bearer token or a client
// certificate, ServiceAccount tokens, idle connections held open against a server, and a
// process's peak resident memory.
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { adminKubectl, kubeConfig } from './cluster.js';

export interface Reply {
  status: number;
  body: string;
}

/** One request; resolves with the answer, rejects on a refused handshake or broken connection. */
export function send(url: string, options: RequestOptions & { body?: string; token?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const target = new URL(url);
  const { body, token, timeoutMs = 15_000, ...rest } = options;
  const headers: Record<string, string | number> = { ...(rest.headers as Record<string, string>) };
  if (token !== undefined) {
    headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { rejectUnauthorized: false, timeout: timeoutMs, ...rest, method: body === undefined ? 'GET' : 'POST', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A TokenRequest token of namespace/name (the account is created if missing). */
export async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 409) {
      throw err;
    }
  });
  const token = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return token.status?.token ?? '';
}

/**
 * Keeps `count` idle TCP connections open to 127.0.0.1:port (sending nothing, as a slowloris
 * client would), reopening any the server closes; counts the server's closes.
 */
export class IdleConnections {
  private readonly sockets = new Set<Socket>();
  private stopped = false;
  closedByServer = 0;

  constructor(
    private readonly port: number,
    private readonly count: number,
  ) {}

  start(): void {
    for (let i = 0; i < this.count; i += 1) {
      this.open();
    }
  }

  private open(): void {
    if (this.stopped) {
      return;
    }
    const socket = connect(this.port, '127.0.0.1');
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (!this.stopped) {
        this.closedByServer += 1;
        setTimeout(() => this.open(), 50);
      }
    });
  }

  stop(): void {
    this.stopped = true;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    this.sockets.clear();
  }
}

/** Peak and current resident memory of a process, in MiB (VmHWM, VmRSS). */
export function memoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
}

/**
 * A kubeconfig file (in `dir`) that authenticates as namespace/name with a TokenRequest token, as
 * the account's pods would: for running a process, or kubectl, with exactly that account's rights.
 */
export async function serviceAccountKubeconfig(namespace: string, name: string, dir: string): Promise<string> {
  const token = await serviceAccountToken(namespace, name);
  const cluster = kubeConfig().getCurrentCluster();
  const file = join(dir, `${namespace}-${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server: cluster?.server, 'certificate-authority-data': cluster?.caData } }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'local', user: name } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** `kubectl auth can-i … --as <user>` as the admin: whether `user` may do it. */
export function canI(args: string[], user: string): boolean {
  try {
    adminKubectl(['auth', 'can-i', ...args, '--as', user]);
    return true;
  } catch {
    return false;
  }
}
