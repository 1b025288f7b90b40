// Split brain through a black-holed connection: the leader's connection to the API server goes
// silent (a fault proxy holds every request it sends from then on, without an answer). The
// leader must stop acting at its renew deadline — its lease requests are aborted there and a
// timer ends leadership even while a request hangs — before the standby may take the Lease
// (lease duration after the last renew). Sampled every 50 ms: never two leaders.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { httpGet, killAll, metricValue, startTs, type TsProcess } from '../support/processes.js';

const FIXTURE = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'stamping-manager.ts');
// The fixture's timings.
const LEASE_DURATION_MS = 4000;
const RENEW_DEADLINE_MS = 3000;
const coordination = kubeConfig().makeApiClient(k8s.CoordinationV1Api);

interface Candidate {
  proc: TsProcess;
  metricsUrl: string;
}

async function isMaster(c: Candidate): Promise<boolean> {
  const res = await httpGet(c.metricsUrl).catch(() => undefined);
  return res !== undefined && metricValue(res.body, 'leader_election_master_status{name="e2e-blackhole"}') === 1;
}

describe('leader election through a black-holed connection', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let proxy: FaultProxy | undefined;
  let blackholed = false;

  beforeAll(async () => {
    ns = await createNamespace('e2e-blackhole');
    proxy = await startFaultProxy(clusterState(), () => (blackholed ? 'hold' : 'pass'));
  });
  afterAll(async () => {
    await killAll();
    await proxy?.close();
    await ns.remove();
  });

  async function start(id: string, kubeconfig: string): Promise<Candidate> {
    const proc = startTs(FIXTURE, ['--kubeconfig', kubeconfig, '--namespace', ns.name, '--identity', id, '--lease', 'e2e-blackhole'], `blackhole-${id}`);
    const [, metricsPort] = await proc.waitForLine(/^ready (\d+) (\d+)$/);
    return { proc, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  }

  it('the leader stops acting before the standby can take the Lease; never two leaders', async () => {
    const a = await start('a', proxy?.kubeconfig ?? '');
    await eventually('a leads', () => isMaster(a), 20_000);
    const b = await start('b', clusterState().kubeconfig);
    expect(await isMaster(b)).toBe(false);

    let both = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [ma, mb] = await Promise.all([isMaster(a), isMaster(b)]);
        if (ma && mb) {
          both += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const lastRenew = (await coordination.readNamespacedLease({ name: 'e2e-blackhole', namespace: ns.name })).spec?.renewTime;
    const blackholedAt = Date.now();
    blackholed = true;
    let aStoppedAt = 0;
    void a.proc.exited.then(() => {
      aStoppedAt = Date.now();
    });
    const stopLine = await a.proc.waitForLine(/lost lease \(renew deadline exceeded\)/, 20_000);
    expect(stopLine).not.toBeNull();
    await eventually('b leads', () => isMaster(b), 20_000, 50);
    const bLeadsAt = Date.now();
    await eventually('a exited', () => aStoppedAt > 0, 10_000, 20);
    sampling = false;
    await sampler;

    const lease = await coordination.readNamespacedLease({ name: 'e2e-blackhole', namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBe('b');
    expect(proxy?.held.some((r) => r.includes('/leases/e2e-blackhole'))).toBe(true);
    expect(aStoppedAt).toBeLessThan(bLeadsAt);
    expect(both).toBe(0);
    process.stderr.write(
      `black-holed leader: stopped acting ${aStoppedAt - blackholedAt} ms after its connection went silent (last renew ${String(lastRenew)}), ` +
        `the standby led ${bLeadsAt - blackholedAt} ms after; renew deadline ${RENEW_DEADLINE_MS} ms, lease duration ${LEASE_DURATION_MS} ms\n`,
    );
  });
});
