// A second kube-controller-manager that runs only the deployment and replicaset controllers:
// the upstream reference the benchmark measures against and the conformance tests compare with.
// The cluster's own kube-controller-manager leaves both controllers out (the PodGroup
// controller replaces them), so without this one Deployments do nothing.
import { join } from 'node:path';
import { removeExtraComponent, startExtraComponent } from '../control-plane/components.js';
import { logFile } from '../control-plane/paths.js';
import { freePort } from '../control-plane/processes.js';
import type { ClusterState } from '../control-plane/state.js';

export const REFERENCE_KCM = 'reference-kcm';

export interface ReferenceKcmOptions {
  qps?: number;
  burst?: number;
  /** Concurrent syncs per controller (KCM's default is 5). */
  syncs?: number;
}

/** Starts it (replacing one left over from an earlier run) and waits until it is healthy; returns its pid. */
export async function startReferenceKcm(state: ClusterState, options: ReferenceKcmOptions = {}): Promise<number> {
  const port = await freePort();
  const syncs = options.syncs ?? 5;
  const component = {
    name: REFERENCE_KCM,
    binary: join(state.binDir, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${state.kubeconfig}`,
      `--authentication-kubeconfig=${state.kubeconfig}`,
      `--authorization-kubeconfig=${state.kubeconfig}`,
      '--controllers=replicaset-controller,deployment-controller',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--kube-api-qps=${options.qps ?? 200}`,
      `--kube-api-burst=${options.burst ?? 400}`,
      `--concurrent-replicaset-syncs=${syncs}`,
      `--concurrent-deployment-syncs=${syncs}`,
    ],
    pid: 0,
    ports: [port],
    log: logFile(state.stateDir, REFERENCE_KCM),
    health: { url: `https://127.0.0.1:${port}/healthz`, tls: 'insecure' as const },
  };
  await startExtraComponent(state, component);
  return component.pid;
}

/** Stops it and removes it from the cluster's state (the cluster's own components stay). */
export async function stopReferenceKcm(state: ClusterState): Promise<void> {
  await removeExtraComponent(state, REFERENCE_KCM);
}
