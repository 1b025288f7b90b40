import { down } from '../../hack/cluster/local-cluster.js';
import { E2E_STATE_DIR } from './support/cluster.js';

export default async function globalTeardown(): Promise<void> {
  if (process.env.PODGROUP_E2E_KEEP_CLUSTER === '1') {
    process.stderr.write(`[cluster] kept running (state in ${E2E_STATE_DIR})\n`);
    return;
  }
  await down({ stateDir: E2E_STATE_DIR, log: (line) => process.stderr.write(`[cluster] ${line}\n`) });
}
