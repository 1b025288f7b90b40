import { describe, expect, it } from '@jest/globals';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addRenderedFamilies, sendScrape } from '../../../src/runtime/metrics.js';

describe('sendScrape', () => {
  it('writes every piece in order, as the socket takes them', async () => {
    // 16 MiB in 256 pieces: more than a socket buffers, so the writer waits for drains.
    const pieces = Array.from({ length: 256 }, (_, i) => `# piece ${String(i).padStart(3, '0')}\n`.padEnd(64 * 1024, '#') + '\n');
    const unregister = addRenderedFamilies(async () => pieces);
    const server = createServer((_req, res) => void sendScrape(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { status, type, body } = await new Promise<{ status: number | undefined; type: string | undefined; body: string }>((resolve, reject) => {
        get(`http://127.0.0.1:${port}/metrics`, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        }).on('error', reject);
      });
      expect(status).toBe(200);
      expect(type).toContain('text/plain');
      expect(body).toContain('# TYPE controller_runtime_reconcile_total counter');
      expect(body.endsWith(pieces.join(''))).toBe(true);
    } finally {
      unregister();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
