// A benchmark run's namespace: created ready for pods (its default ServiceAccount exists), and
// deleted with a wait until it is gone, so one run's clean-up never overlaps the next run.
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../../src/api/podgroup.js';
import { waitFor } from '../../hack/control-plane/processes.js';

/** Creates the namespace and waits for its default ServiceAccount (pods are refused before it exists). */
export async function createRunNamespace(kc: k8s.KubeConfig, name: string, timeoutMs = 60_000): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  await waitFor(
    'default ServiceAccount',
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    },
    { timeoutMs },
  );
}

export interface DeleteOptions {
  timeoutMs: number;
  intervalMs: number;
  /**
   * Delete the Deployments and PodGroups first and force-delete the pods (the controller is
   * already stopped, so nothing recreates them): with thousands of pods the namespace controller
   * would otherwise wait out every pod's grace period.
   */
  force?: boolean;
}

/** Deletes the namespace and waits until it is gone. */
export async function deleteRunNamespace(kc: k8s.KubeConfig, name: string, options: DeleteOptions): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  if (options.force === true) {
    await kc
      .makeApiClient(k8s.AppsV1Api)
      .deleteCollectionNamespacedDeployment({ namespace: name })
      .catch(() => undefined);
    await kc
      .makeApiClient(k8s.CustomObjectsApi)
      .deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: name, plural: PLURAL })
      .catch(() => undefined);
    await core.deleteCollectionNamespacedPod({ namespace: name, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
  await core.deleteNamespace({ name }).catch(() => undefined);
  await waitFor(
    `namespace ${name} deleted`,
    async () => {
      try {
        await core.readNamespace({ name });
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs },
  );
}
