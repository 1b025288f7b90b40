// A TCP pass-through from the real node's bridge gateway to the local kube-apiserver, which
// listens on 127.0.0.1 only (so that a cluster without the real node stays loopback-only). The
// `kubernetes` Service's EndpointSlice names this address, so pods reach the API server at
// 10.96.0.1:443 through kube-proxy, then here; TLS runs end to end between the pod and
// kube-apiserver (the relay sees bytes only). Run as a process:
//   node --loader ts-node/esm hack/real-node/tcp-relay.ts --listen HOST:PORT --to HOST:PORT
import { connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

function hostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(value);
  if (m === null) {
    throw new Error(`${flag} must be HOST:PORT, got ${JSON.stringify(value)}`);
  }
  return { host: m[1] ?? '', port: Number(m[2]) };
}

export function startRelay(listen: { host: string; port: number }, to: { host: string; port: number }): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(to.port, to.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () =>
      resolvePromise(
        () =>
          new Promise((done) => {
            for (const s of sockets) {
              s.destroy();
            }
            server.close(() => done());
          }),
      ),
    );
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' } } });
  if (values.listen === undefined || values.to === undefined) {
    console.error('usage: tcp-relay.ts --listen HOST:PORT --to HOST:PORT');
    process.exit(2);
  }
  const listen = hostPort(values.listen, '--listen');
  const to = hostPort(values.to, '--to');
  startRelay(listen, to).then(
    (stop) => {
      console.log(`relaying ${values.listen} -> ${values.to}`);
      const shutdown = (): void => {
        void stop().then(() => process.exit(0));
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
    },
    (err: unknown) => {
      console.error(`tcp-relay: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
