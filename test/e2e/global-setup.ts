// Brings the local control plane up once per e2e run (in its own state dir, so a demo cluster
// in .cluster is left alone). PODGROUP_E2E_KEEP_CLUSTER=1 keeps it after the run and reuses it.
import { up } from '../../hack/cluster/local-cluster.js';
import { E2E_STATE_DIR } from './support/cluster.js';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const { state, alreadyUp } = await up({
    stateDir: E2E_STATE_DIR,
    nodes: 3,
    log: (line) => process.stderr.write(`[cluster] ${line}\n`),
  });
  process.stderr.write(
    `[cluster] ${alreadyUp ? 'reusing' : 'started'} ${state.apiserverUrl} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
}
