// config/scheduler renders with kustomize and the API server accepts it (server-side dry run).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { clusterState, kubeConfig } from '../support/cluster.js';

const core = kubeConfig().makeApiClient(k8s.CoreV1Api);

describe('config/scheduler', () => {
  let created = false;
  beforeAll(async () => {
    try {
      await core.createNamespace({ body: { metadata: { name: 'podgroup-system' } } });
      created = true;
    } catch {
      // already there
    }
  });
  afterAll(async () => {
    if (created) {
      await core.deleteNamespace({ name: 'podgroup-system' }).catch(() => undefined);
    }
  });

  it('renders and passes a server-side dry run', () => {
    const rendered = execFileSync('kubectl', ['kustomize', join(REPO_ROOT, 'config', 'scheduler')], { encoding: 'utf8' });
    expect(rendered).toContain('schedulerName: podgroup-scheduler');
    expect(rendered).toContain('image: registry.k8s.io/kube-scheduler:v1.34.4');
    const out = execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'apply', '--server-side', '--dry-run=server', '-f', '-'], {
      input: rendered,
      encoding: 'utf8',
    });
    expect(out).toMatch(/deployment.apps\/podgroup-scheduler serverside-applied \(server dry run\)/);
    expect(out).toMatch(/rolebinding.rbac.authorization.k8s.io\/podgroup-scheduler-extension-apiserver-authentication-reader serverside-applied/);
  });
});
