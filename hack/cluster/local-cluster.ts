// The local cluster, up and down: the control plane's components (hack/control-plane) started as
// processes on 127.0.0.1 in order, with fake Nodes; stopped in reverse, the real node
// (hack/real-node) first. Used by `npm run cluster:up/down`, the e2e test harness, the benchmarks
// and the demo. Everything it starts is recorded in the state directory (state.json).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { controlPlaneComponents, ensureBinaries, isUp, startComponent } from '../control-plane/components.js';
import { addFakeNodes, defaultNodeSpecs } from '../control-plane/fake-nodes.js';
import { installAdmissionPolicies, kubeSchedulerConfig, localPodGroupSchedulerConfig } from '../control-plane/manifests.js';
import { DEFAULT_STATE_DIR, stateFile } from '../control-plane/paths.js';
import { extenderClientTlsFiles, LOCAL_EXTENDER_NAMESPACE, writeAdminKubeconfig, writeExtenderClientTls, writePki } from '../control-plane/pki.js';
import { ClusterError, freePort, isOurProcess, isPortFree, stopProcess, waitFor } from '../control-plane/processes.js';
import { loadKubeConfig, readState, writeState, type ClusterState } from '../control-plane/state.js';
import { teardownRealNode } from '../real-node/teardown.js';

export interface UpOptions {
  stateDir?: string;
  nodes?: number;
  apiserverPort?: number;
  log?: (line: string) => void;
  /** Serve the API server's /debug/pprof (the scale benchmark profiles it); off otherwise. */
  apiserverProfiling?: boolean;
  /** kwok's node Lease duration in seconds (40 by default; ControlPlaneLayout). */
  kwokNodeLeaseSeconds?: number;
}

async function pickPort(requested: number | undefined, component: string): Promise<number> {
  if (requested === undefined) {
    return freePort();
  }
  if (!(await isPortFree(requested))) {
    throw new ClusterError(`${component}: requested port ${requested} on 127.0.0.1 is already in use`);
  }
  return requested;
}

export async function up(options: UpOptions = {}): Promise<{ state: ClusterState; alreadyUp: boolean }> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => console.log(line));
  const nodeCount = options.nodes ?? 3;
  if (!Number.isInteger(nodeCount) || nodeCount < 0 || nodeCount > 5000) {
    throw new ClusterError(`node count must be an integer between 0 and 5000, got ${options.nodes}`);
  }
  const existing = readState(stateDir);
  if (existing !== undefined) {
    if (await isUp(existing)) {
      return { state: existing, alreadyUp: true };
    }
    log(`found a stopped or broken cluster in ${stateDir}; cleaning it up and starting afresh`);
    await down({ stateDir, log: () => undefined });
  }

  const binDir = ensureBinaries(log);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  mkdirSync(join(stateDir, 'kwok-workdir'), { recursive: true });

  const pki = writePki(stateDir);
  const apiserver = await pickPort(options.apiserverPort, 'kube-apiserver');
  const [etcd, etcdPeer, kcm, scheduler, kwok, podgroupScheduler, extenderPort] = (await Promise.all(Array.from({ length: 7 }, () => freePort()))) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const apiserverUrl = `https://127.0.0.1:${apiserver}`;
  const kubeconfig = join(stateDir, 'kubeconfig');
  writeAdminKubeconfig(kubeconfig, apiserverUrl, pki);
  const schedulerConfig = join(stateDir, 'kube-scheduler.yaml');
  writeFileSync(schedulerConfig, kubeSchedulerConfig(kubeconfig));
  const extenderClientTls = extenderClientTlsFiles(stateDir);
  const podgroupSchedulerConfig = join(stateDir, 'podgroup-scheduler.yaml');
  writeFileSync(podgroupSchedulerConfig, localPodGroupSchedulerConfig(kubeconfig, extenderPort, extenderClientTls));

  const state: ClusterState = {
    stateDir,
    binDir,
    kubeconfig,
    apiserverUrl,
    extenderPort,
    extenderClientTls,
    extenderSecretNamespace: LOCAL_EXTENDER_NAMESPACE,
    pki: { caCert: pki.caCert, caKey: pki.caKey, adminCert: pki.adminCert, adminKey: pki.adminKey },
    components: controlPlaneComponents({
      stateDir,
      binDir,
      kubeconfig,
      pki,
      ports: { apiserver, etcd, etcdPeer, kcm, scheduler, podgroupScheduler, kwok },
      schedulerConfig,
      podgroupSchedulerConfig,
      apiserverProfiling: options.apiserverProfiling,
      kwokNodeLeaseSeconds: options.kwokNodeLeaseSeconds,
    }),
  };
  writeState(state);

  try {
    for (const component of state.components) {
      if (component.name === 'podgroup-scheduler') {
        log("issuing the podgroup-scheduler's extender client certificate");
        await writeExtenderClientTls(state);
      }
      const started = Date.now();
      log(`starting ${component.name}`);
      await startComponent(state, component, component.name === 'kube-apiserver' ? 120_000 : 60_000);
      log(`  ${component.name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${component.pid})`);
    }
    const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
    await waitFor(
      'ServiceAccount default/default',
      async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      },
      { timeoutMs: 60_000 },
    );
    // As config/default installs them: they bind only the manager's ServiceAccount, so a manager
    // started with that account's token (the deploy and security tests) runs inside them.
    installAdmissionPolicies(state);
    if (nodeCount > 0) {
      log(`creating ${nodeCount} fake node(s)`);
      await addFakeNodes(state, defaultNodeSpecs(nodeCount), 60_000 + nodeCount * 500);
    }
  } catch (err) {
    log('start-up failed; stopping what was started');
    await down({ stateDir, log: () => undefined });
    throw err;
  }
  return { state, alreadyUp: false };
}

/** Stops exactly the processes recorded in the state dir, in reverse start order, and waits for their ports. */
export async function down(options: { stateDir?: string; log?: (line: string) => void } = {}): Promise<boolean> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => console.log(line));
  const state = readState(stateDir);
  if (state === undefined) {
    log(`no cluster state in ${stateDir}: nothing to stop`);
    return false;
  }
  if (state.realNode !== undefined) {
    // The kubelet and its containers go first, then the host is restored (hack/real-node).
    await teardownRealNode(state.realNode, state.components, log);
  }
  for (const component of [...state.components].reverse()) {
    if (component.pid > 0 && isOurProcess(component.pid, component.binary)) {
      log(`stopping ${component.name} (pid ${component.pid})`);
      await stopProcess(component.pid);
    }
  }
  for (const component of state.components) {
    for (const port of component.ports) {
      await waitFor(`port ${port} (${component.name}) to be free`, () => isPortFree(port), { timeoutMs: 15_000 });
    }
  }
  rmSync(stateFile(stateDir), { force: true });
  return true;
}
