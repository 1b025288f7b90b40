// Network faults in front of the real API server: an HTTPS proxy that forwards every request
// (request bodies are read first so a rule can look at them; answers, watches included, stream
// through), except that a rule may pick a fault for a request:
//   'drop-answer': the API server answers in full, then the client's connection is cut — the
//                  client sees a broken connection for a request that was carried out;
//   'hold':        the request is never forwarded nor answered — a black-holed connection.
// Nothing is faked: the API server decides everything; the proxy only loses traffic.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { createCertificateAuthoritySync, issueCertificateSync } from '../../../src/runtime/certificates.js';
import type { ClusterState } from '../../../hack/control-plane/state.js';

export type Fault = 'pass' | 'drop-answer' | 'hold';

export interface FaultProxy {
  /** A kubeconfig that reaches the API server through the proxy. */
  kubeconfig: string;
  /** Requests whose answers were dropped, as "METHOD path". */
  dropped: string[];
  /** Requests held without an answer, as "METHOD path". */
  held: string[];
  close(): Promise<void>;
}

export async function startFaultProxy(state: ClusterState, fault: (method: string, path: string, body: string) => Fault): Promise<FaultProxy> {
  const hour = 3_600_000;
  const ca = createCertificateAuthoritySync('fault-proxy-ca', hour);
  const serving = issueCertificateSync(ca, { commonName: 'fault-proxy', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: hour });
  const upstream = new URL(state.apiserverUrl);
  const agent = new https.Agent({
    keepAlive: true,
    ca: readFileSync(state.pki.caCert),
    cert: readFileSync(state.pki.adminCert),
    key: readFileSync(state.pki.adminKey),
  });
  const dropped: string[] = [];
  const held: string[] = [];
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => relay(req, res, Buffer.concat(chunks)));
  });
  const relay = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const chosen = fault(method, path, body.toString('utf8'));
    if (chosen === 'hold') {
      held.push(`${method} ${path}`);
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    const forward = https.request({ hostname: upstream.hostname, port: upstream.port, path, method, headers, agent }, (answer) => {
      if (chosen === 'drop-answer') {
        // Read the whole answer (the API server has finished), then break the client's connection.
        answer.resume();
        answer.on('end', () => {
          dropped.push(`${method} ${path}`);
          req.socket.destroy();
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // A watch's headers come long before its first event: pass them on at once.
      res.flushHeaders();
      answer.pipe(res);
    });
    forward.on('error', () => req.socket.destroy());
    forward.end(body);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'fault-proxy-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'proxied', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(ca.certPem) } }],
      // The proxy authenticates to the API server as admin; this identity only completes the file.
      users: [
        {
          name: 'proxied',
          user: { 'client-certificate-data': b64(readFileSync(state.pki.adminCert, 'utf8')), 'client-key-data': b64(readFileSync(state.pki.adminKey, 'utf8')) },
        },
      ],
      contexts: [{ name: 'proxied', context: { cluster: 'proxied', user: 'proxied' } }],
      'current-context': 'proxied',
    }),
  );
  return {
    kubeconfig,
    dropped,
    held,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
