// `npm run demo`: the main job on the local control plane. Brings the cluster up (building what
// is missing, with the podgroup-scheduler), installs the CRD and the webhook configuration,
// starts the manager (controller, extender, webhook), applies config/samples/podgroup-sidecars.yaml
// and tells the story step by step; then leaves everything running for kubectl.
//   npm run demo [-- --state-dir DIR]
// Every command it prints after "$ " is run exactly as printed (through bash, from the repository
// root, with KUBECONFIG set), so each one works when pasted; test/e2e/demo.test.ts runs the rest.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../src/api/podgroup.js';
import { parseCommandLine, runCommandLine } from '../src/cli-args.js';
import {
  ClusterError,
  DEFAULT_STATE_DIR,
  loadKubeConfig,
  localWebhookConfiguration,
  REPO_ROOT,
  startExtraComponent,
  up,
  type ClusterState,
} from './cluster/local-cluster.js';
import { freePort, waitFor } from './cluster/processes.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, title: string): void => console.log(`\n${bold(`── ${n}. ${title}`)}`);

const USAGE = 'usage: npm run demo [-- --state-dir DIR]';

/** Quotes an argument for bash only when it needs it, so printed commands stay readable. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Prints `$ kubectl ARGS` and runs exactly that text, as a user pasting it would. */
function kubectl(state: ClusterState, args: string[]): string {
  const command = ['kubectl', ...args].map(shellQuote).join(' ');
  console.log(`$ ${command}`);
  const out = execFileSync('bash', ['-c', command], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, KUBECONFIG: state.kubeconfig } });
  process.stdout.write(out.replace(/^(?=.)/gm, '  '));
  return out;
}

async function ensureNamespace(state: ClusterState, name: string): Promise<void> {
  const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
}

/** Registers config/webhook's configuration, pointed at the manager on 127.0.0.1:port. */
async function registerLocalWebhook(state: ClusterState, port: number): Promise<void> {
  const admission = loadKubeConfig(state).makeApiClient(k8s.AdmissionregistrationV1Api);
  const config = localWebhookConfiguration(port);
  await admission.deleteMutatingWebhookConfiguration({ name: config.metadata?.name ?? '' }).catch(() => undefined);
  await admission.createMutatingWebhookConfiguration({ body: config });
  console.log(`  registered MutatingWebhookConfiguration ${config.metadata?.name} → https://127.0.0.1:${port}/mutate-v1-pod (caBundle filled in by the manager)`);
}

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    args: process.argv.slice(2),
    options: { 'state-dir': { type: 'string', default: process.env.PODGROUP_CLUSTER_DIR ?? DEFAULT_STATE_DIR } },
  });
  const stateDir = values['state-dir'];
  step(1, 'Local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, podgroup-scheduler, kwok)');
  const { state, alreadyUp } = await up({ stateDir, log: (l) => console.log(`  ${l}`) });
  console.log(`  ${alreadyUp ? 'already running' : 'started'}: ${state.apiserverUrl}`);
  kubectl(state, ['get', 'nodes', '-L', 'topology.kubernetes.io/zone']);

  step(2, 'Install the PodGroup CRD and the webhook configuration, start the manager (controller + extender + webhook)');
  kubectl(state, ['apply', '--server-side', '-k', 'crds/']);
  const crds = loadKubeConfig(state).makeApiClient(k8s.ApiextensionsV1Api);
  await waitFor('the PodGroup CRD to be Established', async () => {
    const crd = await crds.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  }, { timeoutMs: 60_000 });
  console.log('  building the manager (npm run build)');
  if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' }).status !== 0) {
    throw new ClusterError('npm run build failed');
  }
  // The kubectl plugin, as `npm install` would link it: <state>/bin/kubectl-podgroup.
  const pluginDir = join(state.stateDir, 'bin');
  mkdirSync(pluginDir, { recursive: true });
  chmodSync(join(REPO_ROOT, 'dist', 'plugin', 'main.js'), 0o755);
  rmSync(join(pluginDir, 'kubectl-podgroup'), { force: true });
  symlinkSync(join(REPO_ROOT, 'dist', 'plugin', 'main.js'), join(pluginDir, 'kubectl-podgroup'));
  const [metricsPort, probePort, webhookPort] = [await freePort(), await freePort(), await freePort()];
  await ensureNamespace(state, 'podgroup-system');
  await registerLocalWebhook(state, webhookPort);
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
      `--webhook-bind-address=127.0.0.1:${webhookPort}`,
      '--webhook-cert-ips=127.0.0.1',
      '--webhook-namespace=podgroup-system',
      '--leader-election-namespace=podgroup-system',
      '--leader-elect',
      '--log-format=json',
    ],
    pid: 0,
    ports: [metricsPort, probePort, state.extenderPort, webhookPort],
    log: join(state.stateDir, 'logs', 'podgroup-controller.log'),
    health: { url: `http://127.0.0.1:${probePort}/readyz`, tls: 'none' },
  });
  console.log(`  manager ready: metrics http://127.0.0.1:${metricsPort}/metrics, probes http://127.0.0.1:${probePort}/readyz`);
  console.log(`  logs: ${relative(process.cwd(), join(state.stateDir, 'logs', 'podgroup-controller.log'))}`);

  const kc = loadKubeConfig(state);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const get = async (): Promise<PodGroup> =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, name: 'site' })) as PodGroup;
  const converged = async (what: string): Promise<void> =>
    waitFor(what, async () => {
      const pg = await get();
      const want = pg.spec.replicas ?? 1;
      const s = pg.status;
      const list = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=site' })).items;
      return s?.observedGeneration === pg.metadata?.generation && s?.updatedReplicas === want && s?.availableReplicas === want && list.length === want;
    }, { timeoutMs: 120_000, intervalMs: 250 });

  const pods = async (): Promise<k8s.V1Pod[]> => (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=site' })).items;
  const showPods = (): void => {
    kubectl(state, ['get', 'pods', '-l', 'app=site', '-o', 'custom-columns=NAME:.metadata.name,STATUS:.status.phase,NODE:.spec.nodeName,SCHEDULER:.spec.schedulerName,SIDECARS:.spec.initContainers[*].name,IMAGE:.spec.containers[0].image']);
  };

  step(3, 'Apply a PodGroup with both sidecars: the controller creates pods, the webhook injects git-sync and a log collector, the podgroup-scheduler (our extender) spreads them');
  kubectl(state, ['apply', '-f', 'config/samples/podgroup-sidecars.yaml']);
  await converged('2 pods running');
  kubectl(state, ['get', 'podgroup', 'site']);
  showPods();
  const first = (await pods())[0];
  console.log(`  ${first?.metadata?.name}: ${first?.metadata?.annotations?.['sidecars.podgroup.dev/status']}`);

  step(4, 'Self-healing: delete a pod and a new one (with a new name) replaces it');
  const victim = first?.metadata?.name ?? '';
  kubectl(state, ['delete', 'pod', victim, '--wait=false']);
  await waitFor('a replacement', async () => {
    const now = await pods();
    return !now.some((p) => p.metadata?.name === victim) && now.length === 2;
  }, { timeoutMs: 60_000 });
  await converged('2 pods again');
  showPods();

  step(5, 'Scale to 4 (the scale subresource, like a Deployment)');
  kubectl(state, ['scale', 'podgroup', 'site', '--replicas=4']);
  await converged('4 pods');
  showPods();

  step(6, 'Rolling update to nginx:1.28 (25% surge/unavailable), with a new revision');
  kubectl(state, ['patch', 'podgroup', 'site', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.28"}]']);
  await converged('the rollout');
  showPods();
  kubectl(state, ['get', 'controllerrevisions', '-l', `${GROUP}/name=site`]);
  kubectl(state, ['describe', 'podgroup', 'site']);

  // Paths relative to the repository root, where npm run leaves the user.
  const shown = relative(REPO_ROOT, state.kubeconfig);
  const down = stateDir === DEFAULT_STATE_DIR ? 'npm run cluster:down' : `npm run cluster:down -- --state-dir ${shellQuote(relative(REPO_ROOT, stateDir))}`;
  console.log(`\n${bold('Everything keeps running. Explore it (from the repository root):')}
  export KUBECONFIG=${shown}
  export PATH="$PWD/${relative(REPO_ROOT, join(state.stateDir, 'bin'))}:$PATH"    # kubectl-podgroup, the kubectl plugin
  kubectl get podgroups,pods -o wide
  kubectl podgroup rollout history site                   # the kubectl plugin: rollout status|history|undo|pause|resume|restart, why
  kubectl explain podgroup.spec.strategy
  kubectl podgroup rollout undo site --to-revision 1      # server-side rollback (the ${GROUP}/rollback-to annotation)
  kubectl apply -f config/samples/podgroup-gang.yaml      # a gang of 5, placed only when all 5 fit
  kubectl describe podgroup train                         # its GangScheduled condition
  kubectl podgroup why train                              # why it is (not) ready, on one screen
  curl -s http://127.0.0.1:${metricsPort}/metrics | grep controller_runtime_reconcile_total
Stop everything with: ${down}`);
}

runCommandLine('demo', USAGE, main);
