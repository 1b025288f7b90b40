// `npm run demo`: the main job on the local control plane. Brings the cluster up (building what
// is missing, with the podgroup-scheduler) and, when the host allows it, the real node
// real-node-0; installs the CRD and the webhook configuration, starts the manager (controller,
// extender, webhook), applies config/samples/podgroup-sidecars.yaml (on the real node: pointed at
// the node's Git server and pinned to the node) and tells the story step by step — on the real
// node with real containers: the native sidecar ordering, the synced page, the collected logs, a
// commit going live — then leaves everything running for kubectl.
//   npm run demo [-- --state-dir DIR]
// Every command it prints after "$ " is run exactly as printed (through bash, from the repository
// root, with KUBECONFIG set), so each one works when pasted; test/e2e/demo.test.ts runs the rest.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../src/api/podgroup.js';
import { parseCommandLine, runCommandLine } from '../src/cli-args.js';
import { up } from './cluster/local-cluster.js';
import { startExtraComponent } from './control-plane/components.js';
import { localWebhookConfiguration } from './control-plane/manifests.js';
import { DEFAULT_STATE_DIR, REPO_ROOT } from './control-plane/paths.js';
import { ClusterError, freePort, waitFor } from './control-plane/processes.js';
import { loadKubeConfig, type ClusterState, type RealNodeState } from './control-plane/state.js';
import { addRealNode, commitToSite, preflight, REAL_NODE_NAME, sampleOnRealNode } from './real-node/node.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, title: string): void => console.log(`\n${bold(`── ${n}. ${title}`)}`);

const USAGE = 'usage: npm run demo [-- --state-dir DIR]';

/** Quotes an argument for bash only when it needs it, so printed commands stay readable. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Prints `$ kubectl ARGS` and runs exactly that text, as a user pasting it would. */
function kubectl(state: ClusterState, args: string[]): string {
  return shell(state, ['kubectl', ...args].map(shellQuote).join(' '));
}

/** Prints `$ COMMAND` and runs exactly that text through bash from the repository root. */
function shell(state: ClusterState, command: string): string {
  console.log(`$ ${command}`);
  const out = quiet(state, command);
  process.stdout.write(out.replace(/^(?=.)/gm, '  '));
  return out;
}

/** Runs a command without showing it (polling). */
function quiet(state: ClusterState, command: string): string {
  return execFileSync('bash', ['-c', command], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, KUBECONFIG: state.kubeconfig } });
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
  console.log(
    `  registered MutatingWebhookConfiguration ${config.metadata?.name} → https://127.0.0.1:${port}/mutate-v1-pod (caBundle filled in by the manager)`,
  );
}

/** Starts real-node-0 when the host allows it; otherwise says why and returns undefined. */
async function maybeRealNode(state: ClusterState): Promise<RealNodeState | undefined> {
  if (process.env.PODGROUP_DEMO_REAL_NODE === '0') {
    console.log('  real node: left out (PODGROUP_DEMO_REAL_NODE=0); pods run on kwok nodes, which run nothing');
    return undefined;
  }
  if (state.realNode !== undefined) {
    console.log(`  real node ${REAL_NODE_NAME}: already running`);
    return state.realNode;
  }
  const problems = await preflight({ packages: false });
  if (problems.length > 0) {
    console.log(`  real node: not on this host (${problems.join('; ')}); pods run on kwok nodes, which run nothing`);
    return undefined;
  }
  console.log(`  starting the real node ${REAL_NODE_NAME} (what npm run cluster:up -- --real-node does)`);
  return addRealNode(state, (l) => console.log(`  ${l}`));
}

/** The sample for the real node (its repository the node's site repository, its pods pinned there), relative to the repository root. */
function realNodeSample(state: ClusterState, node: RealNodeState): string {
  const file = join(state.stateDir, 'podgroup-sidecars-real-node.yaml');
  writeFileSync(file, sampleOnRealNode(readFileSync(join(REPO_ROOT, 'config', 'samples', 'podgroup-sidecars.yaml'), 'utf8'), `${node.gitUrl}/site.git`));
  return relative(REPO_ROOT, file);
}

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    args: process.argv.slice(2),
    options: { 'state-dir': { type: 'string', default: process.env.PODGROUP_CLUSTER_DIR ?? DEFAULT_STATE_DIR } },
  });
  const stateDir = values['state-dir'];
  step(1, 'Local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, podgroup-scheduler, kwok) and the real node');
  const { state, alreadyUp } = await up({ stateDir, log: (l) => console.log(`  ${l}`) });
  console.log(`  ${alreadyUp ? 'already running' : 'started'}: ${state.apiserverUrl}`);
  const node = await maybeRealNode(state);
  kubectl(state, ['get', 'nodes', '-L', 'topology.kubernetes.io/zone,type']);

  step(2, 'Install the PodGroup CRD and the webhook configuration, start the manager (controller + extender + webhook)');
  kubectl(state, ['apply', '--server-side', '-k', 'crds/']);
  const crds = loadKubeConfig(state).makeApiClient(k8s.ApiextensionsV1Api);
  await waitFor(
    'the PodGroup CRD to be Established',
    async () => {
      const crd = await crds.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    },
    { timeoutMs: 60_000 },
  );
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
      // Plain HTTP for a local demo; deployed, /metrics is HTTPS with TokenReview + SubjectAccessReview.
      '--metrics-secure=false',
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      // The podgroup-scheduler started with the cluster calls the extender here.
      `--extender-bind-address=127.0.0.1:${state.extenderPort}`,
      `--extender-secret-namespace=${state.extenderSecretNamespace}`,
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
    waitFor(
      what,
      async () => {
        const pg = await get();
        const want = pg.spec.replicas ?? 1;
        const s = pg.status;
        const list = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=site' })).items;
        return s?.observedGeneration === pg.metadata?.generation && s?.updatedReplicas === want && s?.availableReplicas === want && list.length === want;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );

  const pods = async (): Promise<k8s.V1Pod[]> => (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=site' })).items;
  const showPods = (): void => {
    kubectl(state, [
      'get',
      'pods',
      '-l',
      'app=site',
      '-o',
      'custom-columns=NAME:.metadata.name,STATUS:.status.phase,NODE:.spec.nodeName,SCHEDULER:.spec.schedulerName,SIDECARS:.spec.initContainers[*].name,IMAGE:.spec.containers[0].image',
    ]);
  };

  step(
    3,
    `Apply a PodGroup with both sidecars: the controller creates pods, the webhook injects git-sync and a log collector, the podgroup-scheduler (our extender) places them${node === undefined ? '' : ` on ${REAL_NODE_NAME}`}`,
  );
  kubectl(state, ['apply', '-f', node === undefined ? 'config/samples/podgroup-sidecars.yaml' : realNodeSample(state, node)]);
  await converged('2 pods running');
  kubectl(state, ['get', 'podgroup', 'site']);
  showPods();
  const first = (await pods())[0];
  console.log(`  ${first?.metadata?.name}: ${first?.metadata?.annotations?.['sidecars.podgroup.dev/status']}`);
  if (node !== undefined && first !== undefined) {
    await realStories(state, node, first, pods);
  }

  step(4, 'Self-healing: delete a pod and a new one (with a new name) replaces it');
  const victim = first?.metadata?.name ?? '';
  kubectl(state, ['delete', 'pod', victim, '--wait=false']);
  await waitFor(
    'a replacement',
    async () => {
      const now = await pods();
      return !now.some((p) => p.metadata?.name === victim) && now.length === 2;
    },
    { timeoutMs: 60_000 },
  );
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
  kubectl explain podgroup.spec.strategy${
    node === undefined
      ? ''
      : `
  kubectl logs -l app=site -c log-collector               # the app's access log, as JSON lines`
  }
  kubectl podgroup rollout undo site --to-revision 1      # server-side rollback (the ${GROUP}/rollback-to annotation)
  kubectl apply -f config/samples/podgroup-gang.yaml      # a gang of 5, placed only when all 5 fit
  kubectl describe podgroup train                         # its GangScheduled condition
  kubectl podgroup why train                              # why it is (not) ready, on one screen
  curl -s http://127.0.0.1:${metricsPort}/metrics | grep controller_runtime_reconcile_total
Stop everything with: ${down}`);
}

/** The seed's two stories with real containers on the real node. */
async function realStories(state: ClusterState, node: RealNodeState, pod: k8s.V1Pod, pods: () => Promise<k8s.V1Pod[]>): Promise<void> {
  const name = pod.metadata?.name ?? '';
  const current = (await pods()).find((p) => p.metadata?.name === name) ?? pod;
  const ip = current.status?.podIP ?? '';
  step(3.1, `Native sidecar ordering, from ${name}'s container statuses: git-sync started (its first sync done) before the app`);
  kubectl(state, [
    'get',
    'pod',
    name,
    '-o',
    'jsonpath={range .status.initContainerStatuses[*]}{.name}{"\\tstarted="}{.started}{"\\tsince "}{.state.running.startedAt}{"\\n"}{end}{range .status.containerStatuses[*]}{.name}{"\\tstarted="}{.started}{"\\tsince "}{.state.running.startedAt}{"\\n"}{end}',
  ]);

  step(3.2, 'The web page, served by nginx from the git-synced checkout (read-only volume), at the pod IP');
  shell(state, `curl -s http://${ip}/`);

  step(3.3, 'The log collector ships the access log the app writes to /var/log/app, as JSON lines');
  const collected = `kubectl logs ${name} -c log-collector | grep '"file":"/var/log/app/access.log"' | tail -n 2`;
  await waitFor('access-log lines in the collector', () => quiet(state, `${collected} | wc -l`).trim() !== '0', { timeoutMs: 30_000, intervalMs: 1000 });
  shell(state, collected);

  step(3.4, 'A new commit to the site repository goes live within the sync period (5s)');
  const commit = commitToSite(node.gitRepos, 'site', `<h1>site v2</h1>\n<p>pushed at ${new Date().toISOString()}</p>\n`);
  console.log(`  committed ${commit.slice(0, 12)} to ${node.gitUrl}/site.git`);
  const started = Date.now();
  await waitFor('the new page', () => quiet(state, `curl -s http://${ip}/`).includes('site v2'), { timeoutMs: 60_000, intervalMs: 250 });
  console.log(`  live after ${((Date.now() - started) / 1000).toFixed(1)}s:`);
  shell(state, `curl -s http://${ip}/`);
}

runCommandLine('demo', USAGE, main);
