// Leader election between two real manager processes sharing one Lease: only the leader
// reconciles; after kill -9 of the leader the standby takes over within the lease duration;
// SIGTERM releases the Lease so failover is immediate, and the process exits 0.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { httpGet, killAll, metricValue, startTs, type TsProcess } from '../support/processes.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
const FIXTURE = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'stamping-manager.ts');
const LEASE_DURATION_MS = 4000;

interface Candidate {
  id: string;
  proc: TsProcess;
  metricsUrl: string;
}

async function isMaster(c: Candidate): Promise<boolean> {
  const res = await httpGet(c.metricsUrl).catch(() => undefined);
  return res !== undefined && metricValue(res.body, 'leader_election_master_status{name="e2e-stamping"}') === 1;
}

describe('leader election', () => {
  let ns: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    ns = await createNamespace('e2e-leader');
  });
  afterAll(async () => {
    await killAll();
    await ns.remove();
  });

  async function start(id: string): Promise<Candidate> {
    const proc = startTs(FIXTURE, ['--kubeconfig', clusterState().kubeconfig, '--namespace', ns.name, '--identity', id], `leader-${id}`);
    const [, metricsPort] = await proc.waitForLine(/^ready (\d+) (\d+)$/);
    return { id, proc, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  }

  async function stampedBy(name: string): Promise<string | undefined> {
    return (await core.readNamespacedConfigMap({ name, namespace: ns.name })).data?.reconciledBy;
  }

  it('runs controllers only on the leader and fails over after kill -9', async () => {
    const a = await start('a');
    await eventually('a leads', () => isMaster(a), 20_000);
    const b = await start('b');

    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'one', labels: { 'e2e.podgroup.dev/stamp': '' } } } });
    expect(await eventually('stamped', () => stampedBy('one'), 20_000)).toBe('a');
    expect(await isMaster(b)).toBe(false);
    const bMetrics = (await httpGet(b.metricsUrl)).body;
    expect(metricValue(bMetrics, 'controller_runtime_reconcile_total{controller="stamping",result="success"}') ?? 0).toBe(0);

    const killedAt = Date.now();
    await a.proc.kill('SIGKILL');
    await eventually('b leads', () => isMaster(b), LEASE_DURATION_MS * 3, 50);
    const failoverMs = Date.now() - killedAt;
    process.stderr.write(`leader failover after kill -9: ${failoverMs} ms (lease duration ${LEASE_DURATION_MS} ms)\n`);
    // The standby may take over only once the lease expired, and at most a retry period after.
    expect(failoverMs).toBeGreaterThanOrEqual(LEASE_DURATION_MS - 1000);

    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'two', labels: { 'e2e.podgroup.dev/stamp': '' } } } });
    expect(await eventually('stamped by b', () => stampedBy('two'), 20_000)).toBe('b');

    // Graceful shutdown releases the Lease: a new candidate takes over without waiting for expiry.
    const c = await start('c');
    expect(await isMaster(c)).toBe(false);
    const releasedAt = Date.now();
    expect(await b.proc.kill('SIGTERM')).toBe(0);
    // Released (or, if c's retry came within the few ms since, already c's: a released Lease is
    // free at once).
    const lease = await coordination.readNamespacedLease({ name: 'e2e-stamping', namespace: ns.name });
    expect(['', 'c']).toContain(lease.spec?.holderIdentity ?? '');
    await eventually('c leads', () => isMaster(c), LEASE_DURATION_MS, 50);
    process.stderr.write(`leader handover after graceful release: ${Date.now() - releasedAt} ms\n`);
    const after = await coordination.readNamespacedLease({ name: 'e2e-stamping', namespace: ns.name });
    expect(after.spec?.holderIdentity).toBe('c');
    expect(after.spec?.leaseTransitions).toBeGreaterThanOrEqual(2);
  });
});
