// The server limits on a real loopback listener (no cluster involved).
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthoritySync, issueCertificateSync } from '../../../src/runtime/certificates.js';
import { clientCommonName, close, HttpError, listen, readBody, sendJson } from '../../../src/runtime/http-server.js';

function post(port: number, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('http-server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await close(server);
  });

  async function start(maxBodyBytes: number, maxInflightBodyBytes?: number, hold?: Promise<void>): Promise<number> {
    server = await listen(
      'test',
      { host: '127.0.0.1', port: 0 },
      { maxConnections: 16, requestTimeoutMs: 5_000, headersTimeoutMs: 2_000, maxBodyBytes, maxInflightBodyBytes },
      (req, res) => {
        readBody(req, res).then(
          async (body) => {
            await hold;
            sendJson(res, 200, { bytes: body.length });
          },
          (err: unknown) => sendJson(res, err instanceof HttpError ? err.status : 500, { message: String((err as Error).message) }),
        );
      },
    );
    return (server.address() as AddressInfo).port;
  }

  it('reads bodies up to the limit and answers a larger one with 413 and a message', async () => {
    const port = await start(1024);
    expect(await post(port, Buffer.alloc(1024, 'a'))).toEqual({ status: 200, body: '{"bytes":1024}' });
    const tooBig = await post(port, Buffer.alloc(64 * 1024, 'a'));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toContain('exceeds the limit of 1024 bytes');
  });

  it('answers 429 when the bytes in flight would exceed the budget, and frees them afterwards', async () => {
    let release: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const port = await start(1000, 1500, hold);
    const first = post(port, Buffer.alloc(1000, 'a'));
    // The first body is read and held by the handler (it counts until answered).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await post(port, Buffer.alloc(1000, 'b'));
    expect(second.status).toBe(429);
    release();
    expect((await first).status).toBe(200);
    expect((await post(port, Buffer.alloc(1000, 'c'))).status).toBe(200);
  });

  it("names each connection's client certificate, on every request of a kept-alive connection, over TLS 1.3 and 1.2", async () => {
    const hour = 3_600_000;
    const ca = createCertificateAuthoritySync('test-ca', hour);
    const serving = issueCertificateSync(ca, { commonName: 'server', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: hour });
    server = await listen(
      'test',
      { host: '127.0.0.1', port: 0 },
      { maxConnections: 16, requestTimeoutMs: 5_000, headersTimeoutMs: 2_000, maxBodyBytes: 1024 },
      (req, res) => sendJson(res, 200, { name: clientCommonName(req) ?? null }),
      { certPem: serving.certPem, keyPem: serving.keyPem, clientCaPem: ca.certPem },
    );
    const port = (server.address() as AddressInfo).port;
    const get = (agent: Agent): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as unknown));
        });
        req.on('error', reject);
        req.end();
      });
    const agents = (['alice', 'bob'] as const).flatMap((name) => {
      const cert = issueCertificateSync(ca, { commonName: name, usages: ['client'], validForMs: hour });
      return (['TLSv1.3', 'TLSv1.2'] as const).map((maxVersion) => ({
        name,
        agent: new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, cert: cert.certPem, key: cert.keyPem, maxVersion }),
      }));
    });
    try {
      for (let round = 0; round < 2; round += 1) {
        for (const { name, agent } of agents) {
          expect(await get(agent)).toEqual({ name });
        }
      }
    } finally {
      agents.forEach(({ agent }) => agent.destroy());
    }
  });
});
