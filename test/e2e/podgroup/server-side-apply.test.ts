// Server-side apply beside a second field manager, as GitOps tools meet people running
// `kubectl set image` / `kubectl set env`: the same sequence on a Deployment (upstream's schema)
// and on a PodGroup must merge, and conflict, the same way (the CRD's pod template carries the
// list-map markers upstream's OpenAPI gives a Deployment's template). Only the API server is
// involved: no controller has to run.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { installCrds } from '../../../hack/control-plane/manifests.js';
import { API_VERSION } from '../../../src/api/podgroup.js';
import { clusterState, createNamespace } from '../support/cluster.js';

const run = promisify(execFile);

interface Outcome {
  ok: boolean;
  output: string;
}

async function kubectl(args: string[], input?: string): Promise<Outcome> {
  const child = run('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

type Kind = 'Deployment' | 'PodGroup';
const KINDS: Kind[] = ['Deployment', 'PodGroup'];
const resource = (kind: Kind): string => (kind === 'Deployment' ? 'deployment' : 'podgroup');

/** The manifest a GitOps tool keeps: an app container and, unless left out, a helper; each with env and a port. */
function manifest(kind: Kind, name: string, images: { app: string; helper?: string }): string {
  const app = { name: 'app', image: images.app, env: [{ name: 'MODE', value: 'serve' }], ports: [{ containerPort: 8080 }] };
  const helper = { name: 'helper', image: images.helper, env: [{ name: 'MODE', value: 'help' }], ports: [{ containerPort: 9090 }] };
  return JSON.stringify({
    apiVersion: kind === 'Deployment' ? 'apps/v1' : API_VERSION,
    kind,
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: images.helper === undefined ? [app] : [app, helper],
        },
      },
    },
  });
}

const apply = (kind: Kind, ns: string, name: string, images: { app: string; helper?: string }): Promise<Outcome> =>
  kubectl(['apply', '--server-side', '--field-manager=gitops', '-n', ns, '-f', '-'], manifest(kind, name, images));

async function containers(kind: Kind, ns: string, name: string): Promise<unknown> {
  const out = await kubectl(['get', resource(kind), name, '-n', ns, '-o', 'jsonpath={.spec.template.spec.containers}']);
  expect(out.ok).toBe(true);
  return JSON.parse(out.output);
}

describe('server-side apply with a second field manager merges per container, as on a Deployment', () => {
  let ns: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    await installCrds(clusterState());
    ns = await createNamespace('ssa');
  });
  afterAll(async () => {
    await ns?.remove();
  });

  it.each(KINDS)('%s: apply, another manager changes one container, apply again', async (kind) => {
    const name = `web-${kind.toLowerCase()}`;
    const first = await apply(kind, ns.name, name, { app: 'registry.example/app:1', helper: 'registry.example/helper:1' });
    expect(first).toMatchObject({ ok: true });

    // Someone hot-fixes the app container's image and adds a variable to it (kubectl set image /
    // set env, here as the JSON patch a script would send, under its own field manager).
    const hotfix = await kubectl([
      'patch',
      resource(kind),
      name,
      '-n',
      ns.name,
      '--type=json',
      '--field-manager=kubectl-set',
      '-p',
      JSON.stringify([
        { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example/app:2' },
        { op: 'add', path: '/spec/template/spec/containers/0/env/-', value: { name: 'DEBUG', value: '1' } },
      ]),
    ]);
    expect(hotfix).toMatchObject({ ok: true });

    // A stale manifest conflicts on exactly the field the other manager changed: the app's image.
    const stale = await apply(kind, ns.name, name, { app: 'registry.example/app:1', helper: 'registry.example/helper:2' });
    expect(stale.ok).toBe(false);
    expect(stale.output).toContain('conflict with "kubectl-set"');
    expect(stale.output).toContain('.spec.template.spec.containers[name="app"].image');
    expect(stale.output).not.toMatch(/\.spec\.template\.spec\.containers(:|\n|$)/m);

    // The manifest caught up with the hotfix and bumps the helper: it merges, per container;
    // the other manager's variable stays, and it keeps owning it.
    const second = await apply(kind, ns.name, name, { app: 'registry.example/app:2', helper: 'registry.example/helper:2' });
    expect(second).toMatchObject({ ok: true });
    expect(await containers(kind, ns.name, name)).toEqual([
      {
        name: 'app',
        image: 'registry.example/app:2',
        env: [
          { name: 'MODE', value: 'serve' },
          { name: 'DEBUG', value: '1' },
        ],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        ...(kind === 'Deployment' ? DEPLOYMENT_CONTAINER_DEFAULTS : {}),
      },
      {
        name: 'helper',
        image: 'registry.example/helper:2',
        env: [{ name: 'MODE', value: 'help' }],
        ports: [{ containerPort: 9090, protocol: 'TCP' }],
        ...(kind === 'Deployment' ? DEPLOYMENT_CONTAINER_DEFAULTS : {}),
      },
    ]);
    const managed = await kubectl([
      'get',
      resource(kind),
      name,
      '-n',
      ns.name,
      '-o',
      'jsonpath={.metadata.managedFields[?(@.manager=="kubectl-set")].fieldsV1}',
      '--show-managed-fields',
    ]);
    // It owns its variable and the app's image inside the container list, never the list itself.
    const owned = JSON.parse(managed.output) as {
      'f:spec': { 'f:template': { 'f:spec': { 'f:containers': Record<string, Record<string, Record<string, unknown>>> } } };
    };
    const byContainer = owned['f:spec']['f:template']['f:spec']['f:containers'];
    expect(Object.keys(byContainer)).toEqual(['k:{"name":"app"}']);
    expect(Object.keys(byContainer['k:{"name":"app"}']?.['f:env'] ?? {})).toEqual(['k:{"name":"DEBUG"}']);

    // Dropping the helper from the manifest removes it (the applier owned it alone) and leaves the app.
    const pruned = await apply(kind, ns.name, name, { app: 'registry.example/app:2' });
    expect(pruned).toMatchObject({ ok: true });
    expect(((await containers(kind, ns.name, name)) as { name: string }[]).map((c) => c.name)).toEqual(['app']);
  });
});

/** What the API server's defaulting adds to a Deployment's containers (a PodGroup's template is kept as written). */
const DEPLOYMENT_CONTAINER_DEFAULTS = {
  imagePullPolicy: 'IfNotPresent',
  resources: {},
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
};
