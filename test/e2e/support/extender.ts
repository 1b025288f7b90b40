// Calling the manager's extender the way the podgroup-scheduler does: HTTPS to 127.0.0.1 with the
// scheduler's client certificate (the local cluster's copy of the Secret the manager issued),
// verifying the extender against the extender CA under the Service's name.
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { clusterState } from './cluster.js';

export interface Reply {
  status: number;
  body: string;
}

export const EXTENDER_SERVER_NAME = 'podgroup-controller-extender.podgroup-system.svc';

/** TLS options of the scheduler's client (override cert/key to be someone else). */
export function schedulerTls(): Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'servername'> {
  const files = clusterState().extenderClientTls;
  return { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), servername: EXTENDER_SERVER_NAME };
}

export function extenderUrl(): string {
  return `https://127.0.0.1:${clusterState().extenderPort}`;
}

/** POSTs to the extender; tls defaults to the scheduler's client certificate. */
export function postExtender(path: string, body: string, tls: RequestOptions = schedulerTls(), timeoutMs = 10_000): Promise<Reply> {
  const port = clusterState().extenderPort;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: timeoutMs,
        ...tls,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
