// cluster:up is idempotent, cluster:down stops exactly what was started and frees the ports,
// and a port already in use is reported by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { down, up } from '../../hack/cluster/local-cluster.js';
import { ClusterError, isAlive, isPortFree } from '../../hack/control-plane/processes.js';
import { readState } from '../../hack/control-plane/state.js';

const quiet = (): void => undefined;

describe('cluster lifecycle', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'podgroup-lifecycle-'));
  afterAll(async () => {
    await down({ stateDir, log: quiet });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('comes up, is idempotent, and goes down leaving no process or port behind', async () => {
    const first = await up({ stateDir, nodes: 1, log: quiet });
    expect(first.alreadyUp).toBe(false);
    const again = await up({ stateDir, nodes: 1, log: quiet });
    expect(again.alreadyUp).toBe(true);

    const state = readState(stateDir);
    expect(state?.components.map((c) => c.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'podgroup-scheduler', 'kwok']);
    const pids = state?.components.map((c) => c.pid) ?? [];
    const ports = state?.components.flatMap((c) => c.ports) ?? [];
    expect(pids.every(isAlive)).toBe(true);

    await down({ stateDir, log: quiet });
    expect(pids.filter(isAlive)).toEqual([]);
    for (const port of ports) {
      expect(await isPortFree(port)).toBe(true);
    }
    expect(readState(stateDir)).toBeUndefined();
  });

  it('names the component when a requested port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(up({ stateDir, nodes: 0, apiserverPort: port, log: quiet })).rejects.toThrow(ClusterError);
      await expect(up({ stateDir, nodes: 0, apiserverPort: port, log: quiet })).rejects.toThrow(
        `kube-apiserver: requested port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
