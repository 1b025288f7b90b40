// The server limits on a real loopback listener (no cluster involved).
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { close, HttpError, listen, readBody, sendJson } from '../../../src/runtime/http-server.js';

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
});
