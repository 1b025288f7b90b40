import { clusterCli } from './global-setup.mjs';

export default function globalTeardown() {
  if (process.env.PODGROUP_E2E_KEEP_CLUSTER === '1') {
    process.stderr.write(`cluster kept running (state in ${process.env.PODGROUP_E2E_CLUSTER_DIR})\n`);
    return;
  }
  clusterCli(['down', '--state-dir', process.env.PODGROUP_E2E_CLUSTER_DIR]);
}
