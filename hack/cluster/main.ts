// `npm run cluster:up [-- --nodes N]`, `npm run cluster:down`, and `status` / `add-nodes` for
// scripting. Every failure ends with one message naming its cause and exit code 1; a bad command
// line names the flag, prints the usage and exits 2.
import { relative } from 'node:path';
import { integerFlag, parseCommandLine, runCommandLine, UsageError } from '../../src/cli-args.js';
import { isUp } from '../control-plane/components.js';
import { addFakeNodes, defaultNodeSpecs } from '../control-plane/fake-nodes.js';
import { DEFAULT_STATE_DIR } from '../control-plane/paths.js';
import { ClusterError } from '../control-plane/processes.js';
import { readState } from '../control-plane/state.js';
import { down, up } from './local-cluster.js';
import { addRealNode, REAL_NODE_NAME } from '../real-node/node.js';
import { REAL_NODE_COMPONENTS } from '../real-node/teardown.js';
import { REFERENCE_KCM, startReferenceKcm } from './reference-kcm.js';

const usage = `usage: cluster <up|down|status|add-nodes> [--state-dir DIR] [--nodes N] [--apiserver-port P] [--prefix NAME] [--real-node] [--deployments]
  up         build missing binaries, start the control plane and N fake nodes (default 3);
             --real-node also starts ${REAL_NODE_NAME}, a real kubelet with containerd (root; adds it to a running cluster);
             --deployments also runs kube-controller-manager's deployment and replicaset controllers
             (a second KCM: the cluster's own leaves them to the PodGroup controller), as kind has them
  down       stop exactly the processes 'up' started
  status     exit 0 when the cluster is up
  add-nodes  add N more fake nodes named PREFIX-i`;

function printAccess(kubeconfig: string): void {
  const shown = relative(process.cwd(), kubeconfig) || kubeconfig;
  console.log(`\nkubeconfig: ${kubeconfig}\n  export KUBECONFIG=${shown}\n  kubectl get nodes\nstop it with: npm run cluster:down`);
}

async function main(): Promise<void> {
  const { positionals, values } = parseCommandLine({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string', default: process.env.PODGROUP_CLUSTER_DIR ?? DEFAULT_STATE_DIR },
      nodes: { type: 'string', default: process.env.PODGROUP_NODES ?? '3' },
      'apiserver-port': { type: 'string' },
      prefix: { type: 'string', default: 'extra-node' },
      'real-node': { type: 'boolean', default: false },
      deployments: { type: 'boolean', default: false },
    },
  });
  const stateDir = values['state-dir'];
  const nodes = integerFlag('nodes', values.nodes, { min: 0 });
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  }
  switch (positionals[0]) {
    case 'up': {
      const port = values['apiserver-port'] === undefined ? undefined : integerFlag('apiserver-port', values['apiserver-port'], { min: 1, max: 65535 });
      const { state, alreadyUp } = await up({ stateDir, nodes, apiserverPort: port });
      console.log(alreadyUp ? `cluster already up (${state.apiserverUrl})` : `cluster up: ${state.apiserverUrl}`);
      if (values['real-node']) {
        if (state.realNode === undefined) {
          console.log(`starting the real node ${REAL_NODE_NAME}`);
        }
        const node = await addRealNode(state, (l) => console.log(l));
        console.log(
          `real node ${REAL_NODE_NAME} Ready (node IP ${node.nodeIp}, pods on ${node.subnet}, Git server ${node.gitUrl}); logs: ${state.stateDir}/logs/{kubelet,containerd,kube-proxy,coredns,git-server}.log`,
        );
      }
      if (values.deployments && !state.components.some((c) => c.name === REFERENCE_KCM)) {
        const pid = await startReferenceKcm(state);
        console.log(`deployment and replicaset controllers running (${REFERENCE_KCM}, pid ${pid})`);
      }
      printAccess(state.kubeconfig);
      return;
    }
    case 'down':
      await down({ stateDir });
      return;
    case 'status': {
      const state = readState(stateDir);
      if (state === undefined || !(await isUp(state))) {
        console.log('cluster is down');
        process.exitCode = 1;
        return;
      }
      console.log(`cluster up: ${state.apiserverUrl}`);
      if (state.realNode !== undefined) {
        const pids = state.components.filter((c) => (REAL_NODE_COMPONENTS as readonly string[]).includes(c.name)).map((c) => `${c.name} ${c.pid}`);
        console.log(`real node ${state.realNode.name} up (${pids.join(', ')}; Git server ${state.realNode.gitUrl})`);
      }
      printAccess(state.kubeconfig);
      return;
    }
    case 'add-nodes': {
      const state = readState(stateDir);
      if (state === undefined) {
        throw new ClusterError('the cluster is not up (run npm run cluster:up)');
      }
      await addFakeNodes(state, defaultNodeSpecs(nodes, values.prefix));
      console.log(`added ${nodes} node(s)`);
      return;
    }
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(positionals[0])}`);
  }
}

runCommandLine('cluster', usage, main);
