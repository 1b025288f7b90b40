// The manager's API client against a misbehaving network, on the real control plane:
//  - every request has a deadline: pod creates black-holed by the fault proxy (never forwarded,
//    never answered) fail after --kube-api-timeout instead of holding a reconcile worker forever,
//    and the PodGroup converges once the network heals;
//  - the kubeconfig's proxy-url is honoured by the pooled transport: every connection goes
//    through an HTTP CONNECT proxy.
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { clusterState, createNamespace } from '../support/cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { killAll } from '../support/processes.js';
import { createPodGroup, podGroupManifest, podsOf, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';

describe('the API client', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  let proxy: FaultProxy | undefined;
  let connectProxy: Server | undefined;
  const tunnels = new Set<Socket>();

  let proxyDir: string | undefined;
  beforeAll(async () => {
    ns = await createNamespace('e2e-client');
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    await proxy?.close();
    tunnels.forEach((s) => s.destroy());
    connectProxy?.close();
    await ns.remove();
    if (proxyDir !== undefined) {
      rmSync(proxyDir, { recursive: true, force: true });
    }
  });

  it('gives up on a black-holed request at its deadline, so the worker is free and the PodGroup converges', async () => {
    const podsPath = `/api/v1/namespaces/${ns.name}/pods`;
    let healed = false;
    proxy = await startFaultProxy(clusterState(), (method, path) => (!healed && method === 'POST' && path.split('?')[0] === podsPath ? 'hold' : 'pass'));
    manager = await startManager(['--kubeconfig', proxy.kubeconfig, '--kube-api-timeout', '2s', '--concurrent-podgroup-syncs', '1']);
    await createPodGroup(ns.name, podGroupManifest('held', { replicas: 2 }));
    // The create hangs in the proxy; the manager must report the deadline, not wait forever.
    const line = await manager.proc.waitForLine(/no answer within 2000 ms/, 30_000);
    expect(line).not.toBeNull();
    expect(proxy.held.length).toBeGreaterThan(0);
    // The single worker is not stuck: a second PodGroup's reconcile runs (its creates are held
    // too, and time out too), and once the network heals both converge.
    await createPodGroup(ns.name, podGroupManifest('second', { replicas: 1 }));
    await manager.proc.waitForLine(new RegExp(`"name":"second".*no answer within 2000 ms|no answer within 2000 ms.*"name":"second"`), 30_000);
    healed = true;
    await waitForRollout(ns.name, 'held');
    await waitForRollout(ns.name, 'second');
    expect(await podsOf(ns.name, 'held')).toHaveLength(2);
    await manager.stop();
    manager = undefined;
  });

  it("honours the kubeconfig's proxy-url", async () => {
    let connects = 0;
    connectProxy = createServer();
    connectProxy.on('connect', (req, client: Socket, head: Buffer) => {
      connects += 1;
      const [host, port] = (req.url ?? '').split(':');
      // The kubeconfig names the API server "kubernetes" (a name in its certificate that does not
      // resolve here): only a client that goes through this proxy reaches it.
      const upstream = connect(Number(port), host === 'kubernetes' ? '127.0.0.1' : (host ?? ''), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      tunnels.add(upstream).add(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => connectProxy?.listen(0, '127.0.0.1', resolve));
    const proxyPort = (connectProxy.address() as AddressInfo).port;
    const config = parse(readFileSync(clusterState().kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
    for (const c of config.clusters) {
      c.cluster['proxy-url'] = `http://127.0.0.1:${proxyPort}`;
      c.cluster.server = (c.cluster.server ?? '').replace('127.0.0.1', 'kubernetes');
    }
    proxyDir = mkdtempSync(join(tmpdir(), 'podgroup-proxy-'));
    const kubeconfig = join(proxyDir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(config));
    manager = await startManager(['--kubeconfig', kubeconfig]);
    await createPodGroup(ns.name, podGroupManifest('proxied', { replicas: 2 }));
    await waitForRollout(ns.name, 'proxied');
    // Lists, creates and status writes (and watches) could only have gone through the tunnels.
    expect(connects).toBeGreaterThan(0);
    process.stderr.write(`proxy-url: ${connects} CONNECT tunnels for a 2-pod rollout\n`);
  });
});
