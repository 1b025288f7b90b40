// The podgroup-scheduler's client certificate for the extender is renewed by the manager into its
// Secret; the kubelet updates the Secret volume's files; kube-scheduler (client-go) re-reads
// certFile/keyFile at each new TLS handshake. Here, with a 15 s certificate renewed at 2/3 of
// its life and the kubelet's file update played by the test (an atomic rename into the directory
// the scheduler reads, as the kubelet's atomic writer does), two schedulers started with the
// first certificate:
//  - one whose files stay as they were at its start (a copy, or a subPath mount, which the
//    kubelet never updates): once that certificate has expired, its PodGroup's pods stay Pending,
//    the extender refusing the handshake — the failure at expiry;
//  - one whose files follow the Secret: its PodGroup is scheduled after the first certificate
//    expired, by the same process (no restart).
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isAlive } from '../../../hack/control-plane/processes.js';
import { certificateNotAfter } from '../../../src/runtime/certificates.js';
import { clusterState, createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, podGroupManifest, podsOf, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';
import { startTestScheduler, type TestScheduler } from '../support/scheduler.js';

const SECRET = 'e2e-reload-scheduler-client';
const FOLLOWING = 'e2e-cert-following';
const FROZEN = 'e2e-cert-frozen';

describe("the podgroup-scheduler's client certificate, renewed", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-cert-reload-'));
  const following = join(tmp, 'following');
  const frozen = join(tmp, 'frozen');
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  const schedulers: TestScheduler[] = [];
  const issued: Array<{ certPem: string; notAfter: number }> = [];
  let syncing = true;
  let sync: Promise<void> | undefined;

  const filesOf = (dir: string): { certFile: string; keyFile: string; caFile: string } => ({
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    caFile: join(dir, 'ca.crt'),
  });

  /** The kubelet's part: the Secret's keys written into `following`, each replaced by a rename. */
  async function syncSecretToFiles(): Promise<void> {
    while (syncing) {
      const secret = await core.readNamespacedSecret({ name: SECRET, namespace: clusterState().extenderSecretNamespace }).catch(() => undefined);
      const data = secret?.data ?? {};
      const certPem = Buffer.from(data['tls.crt'] ?? '', 'base64').toString();
      if (certPem !== '' && issued[issued.length - 1]?.certPem !== certPem) {
        for (const key of ['ca.crt', 'tls.key', 'tls.crt']) {
          writeFileSync(join(following, `.${key}.tmp`), Buffer.from(data[key] ?? '', 'base64'), { mode: 0o600 });
          renameSync(join(following, `.${key}.tmp`), join(following, key));
        }
        issued.push({ certPem, notAfter: certificateNotAfter(certPem).getTime() });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  beforeAll(async () => {
    mkdirSync(following);
    mkdirSync(frozen);
    ns = await createNamespace('e2e-cert-reload');
    manager = await startManager([
      '--extender-scheduler-names',
      `podgroup-scheduler,${FOLLOWING},${FROZEN}`,
      '--extender-client-secret-name',
      SECRET,
      '--extender-client-cert-validity',
      '15s',
      '--webhook-cert-check-interval',
      '1s',
    ]);
    sync = syncSecretToFiles();
    await eventually('the first client certificate', () => issued.length > 0, 30_000, 100);
    for (const key of ['ca.crt', 'tls.key', 'tls.crt']) {
      copyFileSync(join(following, key), join(frozen, key));
    }
    schedulers.push(await startTestScheduler({ schedulerName: FOLLOWING, dir: tmp, tls: filesOf(following) }));
    schedulers.push(await startTestScheduler({ schedulerName: FROZEN, dir: tmp, tls: filesOf(frozen) }));
  });

  afterAll(async () => {
    syncing = false;
    await sync;
    await Promise.all(schedulers.map((s) => s.stop()));
    await manager?.stop();
    await killAll();
    await core.deleteNamespacedSecret({ name: SECRET, namespace: clusterState().extenderSecretNamespace }).catch(() => undefined);
    await ns?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is renewed before it expires, and a scheduler whose files follow the Secret keeps scheduling without a restart; frozen files leave pods Pending', async () => {
    const first = issued[0];
    expect(first).toBeDefined();
    // Past the first certificate's expiry; the manager renewed it (at 2/3 of its life) first.
    await eventually('the first certificate expired', () => Date.now() > (first?.notAfter ?? 0) + 1000, 30_000, 200);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect((issued[1]?.notAfter ?? 0) > (first?.notAfter ?? 0)).toBe(true);

    for (const schedulerName of [FOLLOWING, FROZEN]) {
      const pg = podGroupManifest(schedulerName, { replicas: 2 });
      pg.spec.template.spec = { ...pg.spec.template.spec, schedulerName, containers: pg.spec.template.spec?.containers ?? [] };
      await createPodGroup(ns.name, pg);
    }
    await waitForRollout(ns.name, FOLLOWING, 60_000);
    expect((await podsOf(ns.name, FOLLOWING)).every((p) => p.spec?.nodeName)).toBe(true);
    // The same process that started with the first certificate.
    expect(isAlive(schedulers[0]?.pid ?? 0)).toBe(true);

    // The frozen one presents an expired certificate: the extender drops the connection.
    const refusal = await eventually(
      'the frozen scheduler failing on the extender',
      () => {
        // With TLS 1.3 the server checks the client certificate after the client's side of the
        // handshake: the scheduler sees the connection dropped (EOF, reset) or the TLS alert.
        const m =
          /Error scheduling pod; retrying" err="Post \\"https:\/\/127\.0\.0\.1:\d+\/filter\\": (EOF|read tcp \S+: read: connection reset by peer|remote error: tls: [a-z ]+)/.exec(
            schedulers[1]?.output() ?? '',
          );
        return m?.[1];
      },
      60_000,
      250,
    );
    process.stderr.write(`frozen client certificate after expiry: ${refusal}; certificates issued during the test: ${issued.length}\n`);
    expect((await podsOf(ns.name, FROZEN)).every((p) => !p.spec?.nodeName)).toBe(true);
  });
});
