// `npm run demo`: the main job on the local control plane. Brings the cluster up (building what
// is missing), installs the CRD, starts the manager, applies config/samples/podgroup-web.yaml
// and tells the story step by step; then leaves everything running for kubectl.
import { execFileSync, spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../src/api/podgroup.js';
import { ClusterError, DEFAULT_STATE_DIR, installCrds, loadKubeConfig, REPO_ROOT, startExtraComponent, up, type ClusterState } from './cluster/local-cluster.js';
import { freePort, waitFor } from './cluster/processes.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, title: string): void => console.log(`\n${bold(`── ${n}. ${title}`)}`);

function kubectl(state: ClusterState, args: string[], show = true): string {
  if (show) {
    console.log(`$ kubectl ${args.join(' ')}`);
  }
  const out = execFileSync('kubectl', ['--kubeconfig', state.kubeconfig, ...args], { encoding: 'utf8' });
  if (show) {
    process.stdout.write(out.replace(/^/gm, '  '));
  }
  return out;
}

async function main(): Promise<void> {
  step(1, 'Local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, podgroup-scheduler, kwok)');
  const { state, alreadyUp } = await up({ stateDir: DEFAULT_STATE_DIR, log: (l) => console.log(`  ${l}`) });
  console.log(`  ${alreadyUp ? 'already running' : 'started'}: ${state.apiserverUrl}`);
  kubectl(state, ['get', 'nodes', '-L', 'topology.kubernetes.io/zone']);

  step(2, 'Install the PodGroup CRD and start the manager');
  console.log('$ kubectl apply --server-side -f crds/');
  await installCrds(state);
  kubectl(state, ['get', 'crds']);
  console.log('  building the manager (npm run build)');
  if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' }).status !== 0) {
    throw new ClusterError('npm run build failed');
  }
  const [metricsPort, probePort] = [await freePort(), await freePort()];
  await startExtraComponent(state, {
    name: 'podgroup-controller',
    binary: process.execPath,
    args: [
      join(REPO_ROOT, 'dist', 'main.js'),
      `--kubeconfig=${state.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      // The podgroup-scheduler started with the cluster calls the extender here.
      `--extender-bind-address=127.0.0.1:${state.extenderPort}`,
      '--webhook-bind-address=0',
      '--leader-elect',
      '--leader-election-namespace=kube-system',
      '--log-format=json',
    ],
    pid: 0,
    ports: [metricsPort, probePort, state.extenderPort],
    log: join(state.stateDir, 'logs', 'podgroup-controller.log'),
    health: { url: `http://127.0.0.1:${probePort}/readyz`, tls: 'none' },
  });
  console.log(`  manager ready: metrics http://127.0.0.1:${metricsPort}/metrics, probes http://127.0.0.1:${probePort}/readyz`);
  console.log(`  logs: ${relative(process.cwd(), join(state.stateDir, 'logs', 'podgroup-controller.log'))}`);

  const kc = loadKubeConfig(state);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const get = async (): Promise<PodGroup> =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, name: 'web' })) as PodGroup;
  const converged = async (what: string): Promise<void> =>
    waitFor(what, async () => {
      const pg = await get();
      const want = pg.spec.replicas ?? 1;
      const s = pg.status;
      const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items;
      return s?.observedGeneration === pg.metadata?.generation && s?.updatedReplicas === want && s?.availableReplicas === want && pods.length === want;
    }, { timeoutMs: 120_000, intervalMs: 250 });

  step(3, 'Apply a PodGroup: the controller creates 3 pods; the podgroup-scheduler (with our extender) spreads them over kwok nodes');
  kubectl(state, ['apply', '-f', join(REPO_ROOT, 'config', 'samples', 'podgroup-web.yaml')]);
  await converged('3 pods running');
  kubectl(state, ['get', 'podgroup', 'web']);
  kubectl(state, ['get', 'pods', '-l', 'app=web', '-o', 'wide']);

  step(4, 'Self-healing: delete a pod and a new one (with a new name) replaces it');
  const victim = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items[0]?.metadata?.name ?? '';
  kubectl(state, ['delete', 'pod', victim, '--wait=false']);
  await waitFor('a replacement', async () => {
    const pods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items;
    return !pods.some((p) => p.metadata?.name === victim) && pods.length === 3;
  }, { timeoutMs: 60_000 });
  await converged('3 pods again');
  kubectl(state, ['get', 'pods', '-l', 'app=web']);

  step(5, 'Scale to 5 (the scale subresource, like a Deployment)');
  kubectl(state, ['scale', 'podgroup', 'web', '--replicas=5']);
  await converged('5 pods');
  kubectl(state, ['get', 'podgroup', 'web']);

  step(6, 'Rolling update to nginx:1.28 (maxSurge 1, maxUnavailable 0), with a new revision');
  kubectl(state, ['patch', 'podgroup', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.28"}]']);
  await converged('the rollout');
  kubectl(state, ['get', 'pods', '-l', 'app=web', '-o', 'custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,REVISION:.metadata.labels.controller-revision-hash']);
  kubectl(state, ['get', 'controllerrevisions', '-l', `${GROUP}/name=web`]);
  kubectl(state, ['describe', 'podgroup', 'web'], true);

  const shown = relative(process.cwd(), state.kubeconfig) || state.kubeconfig;
  console.log(`\n${bold('Everything keeps running. Explore it:')}
  export KUBECONFIG=${shown}
  kubectl get podgroups,pods -o wide
  kubectl explain podgroup.spec.strategy
  kubectl annotate podgroup web ${GROUP}/rollback-to=1     # server-side rollback
  curl -s http://127.0.0.1:${metricsPort}/metrics | grep controller_runtime_reconcile_total
Stop everything with: npm run cluster:down`);
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
