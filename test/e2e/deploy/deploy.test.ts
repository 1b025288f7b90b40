// The deploy story on the local control plane: every kustomize overlay renders; config/default
// passes a server-side dry run and a real apply; the manager running with the ServiceAccount of
// config/rbac (a TokenRequest token) does its whole job, and `kubectl auth can-i` shows that
// account is least-privilege; a real Prometheus scrapes the manager's HTTPS /metrics with the
// token of a ServiceAccount bound to podgroup-metrics-reader.
import { execFileSync } from 'node:child_process';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { installAdmissionPolicies, installCrds, localWebhookConfiguration } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { freePort, isAlive, startDetached, stopProcess } from '../../../hack/control-plane/processes.js';
import { NAMESPACE_LABEL, STATUS_ANNOTATION } from '../../../src/injection/config.js';
import { createCertificateAuthoritySync, issueCertificateSync } from '../../../src/runtime/certificates.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { httpGet, killAll } from '../support/processes.js';
import { send, serviceAccountToken } from '../support/security.js';
import { GROUP, PLURAL, VERSION } from '../../../src/api/podgroup.js';
import {
  core,
  custom,
  createPodGroup,
  getPodGroup,
  podGroupManifest,
  localWebhookFlags,
  podsOf,
  setImage,
  startManager,
  waitForRollout,
  type RunningManager,
} from '../support/podgroups.js';

const kc = kubeConfig();
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const SA = 'system:serviceaccount:podgroup-system:podgroup-controller';
const kubectl = (args: string[], input?: string): string =>
  execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const canI = (verb: string, resource: string, namespace?: string): boolean => {
  // "resource#subresource" asks about a subresource ("resource/name" would name an object).
  const [kind = '', subresource] = resource.split('#');
  try {
    kubectl([
      'auth',
      'can-i',
      verb,
      kind,
      ...(subresource === undefined ? [] : ['--subresource', subresource]),
      '--as',
      SA,
      ...(namespace ? ['-n', namespace] : []),
    ]);
    return true;
  } catch {
    return false;
  }
};

describe('deploy', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-deploy-'));
  const METRICS_SERVER_NAME = 'podgroup-controller-metrics.podgroup-system.svc';
  const metricsCa = createCertificateAuthoritySync('e2e-metrics-ca', 24 * 3600 * 1000);
  /** tls.crt/tls.key issued by metricsCa for the metrics Service's name (and 127.0.0.1), as cert-manager would. */
  const metricsCertDir = (): string => {
    const dir = join(tmp, 'metrics-certs');
    mkdirSync(dir, { recursive: true });
    const cert = issueCertificateSync(metricsCa, {
      commonName: METRICS_SERVER_NAME,
      dnsNames: [METRICS_SERVER_NAME],
      ipAddresses: ['127.0.0.1'],
      usages: ['server'],
      validForMs: 24 * 3600 * 1000,
    });
    writeFileSync(join(dir, 'tls.crt'), cert.certPem);
    writeFileSync(join(dir, 'tls.key'), cert.keyPem);
    return dir;
  };
  let otherCaServer: Server | undefined;
  let manager: RunningManager | undefined;
  let prometheusPid: number | undefined;

  beforeAll(async () => {
    await installCrds(clusterState());
  });
  afterAll(async () => {
    if (prometheusPid !== undefined) {
      await stopProcess(prometheusPid);
    }
    await manager?.stop();
    await killAll();
    otherCaServer?.close();
    try {
      kubectl([
        'delete',
        '--ignore-not-found',
        '--wait=false',
        '-k',
        join(REPO_ROOT, 'config', 'manager'),
        '-k',
        join(REPO_ROOT, 'config', 'webhook'),
        '-k',
        join(REPO_ROOT, 'config', 'scheduler'),
        '-k',
        join(REPO_ROOT, 'config', 'rbac'),
        '-k',
        join(REPO_ROOT, 'config', 'network-policy'),
        '-k',
        join(REPO_ROOT, 'config', 'prometheus'),
      ]);
      kubectl([
        'delete',
        '--ignore-not-found',
        '--wait=false',
        '-n',
        clusterState().extenderSecretNamespace,
        'role/podgroup-controller',
        'rolebinding/podgroup-controller',
      ]);
    } catch {
      // best effort
    }
    await admission.deleteMutatingWebhookConfiguration({ name: 'podgroup-controller' }).catch(() => undefined);
    await kc
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: 'e2e-prometheus-podgroup-metrics' })
      .catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('renders every kustomize overlay', () => {
    for (const dir of [
      'crd',
      'rbac',
      'policy',
      'manager',
      'webhook',
      'scheduler',
      'prometheus',
      'prometheus/servicemonitor',
      'network-policy',
      'certmanager',
      'namespace-scoped',
      'samples',
      'default',
      'kind',
    ]) {
      const out = execFileSync('kubectl', ['kustomize', join(REPO_ROOT, 'config', dir)], { encoding: 'utf8' });
      expect(out).toMatch(/^kind: /m);
    }
    const kind = execFileSync('kubectl', ['kustomize', join(REPO_ROOT, 'config', 'kind')], { encoding: 'utf8' });
    expect(kind).toContain('image: podgroup-controller:dev');
    expect(kind).toContain('imagePullPolicy: Never');
  });

  it('refuses config/default until the control-plane CIDR of its NetworkPolicies is set', () => {
    const rendered = execFileSync('kubectl', ['kustomize', join(REPO_ROOT, 'config', 'default')], { encoding: 'utf8' });
    kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'config', 'manager', 'namespace.yaml')]);
    let refusal = '';
    try {
      kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], rendered);
    } catch (err) {
      refusal = String((err as { stderr?: string }).stderr);
    }
    expect(refusal).toMatch(
      /NetworkPolicy.*podgroup-controller-allow-webhook-traffic.*"set-the-control-plane-cidr-in-config-network-policy-params.env": must be a valid CIDR/s,
    );
  });

  it('applies config/default with its control-plane CIDR set by an overlay: server-side dry run, then for real', async () => {
    // As a user sets it (config/network-policy/kustomization.yaml): the local API server is at 127.0.0.1.
    const overlay = join(tmp, 'default-overlay');
    mkdirSync(overlay);
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(overlay, join(REPO_ROOT, 'config', 'default'))],
        configMapGenerator: [
          { name: 'podgroup-network-policy-params', namespace: 'podgroup-system', behavior: 'merge', literals: ['control-plane-cidr=127.0.0.1/32'] },
        ],
        components: [relative(overlay, join(REPO_ROOT, 'config', 'network-policy', 'parameters'))],
      }),
    );
    const rendered = execFileSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    expect(rendered).toContain('cidr: 127.0.0.1/32');
    // A dry run cannot create the namespace its objects go into: like the CRDs, it comes first.
    kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'config', 'manager', 'namespace.yaml')]);
    const dry = kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], rendered);
    expect(dry).toContain('deployment.apps/podgroup-controller serverside-applied (server dry run)');
    const real = kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], rendered);
    for (const object of [
      'namespace/podgroup-system',
      'deployment.apps/podgroup-controller',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/podgroup-controller',
      'deployment.apps/podgroup-scheduler',
      'clusterrole.rbac.authorization.k8s.io/podgroup-controller',
      'clusterrole.rbac.authorization.k8s.io/podgroup-metrics-reader',
      'clusterrole.rbac.authorization.k8s.io/podgroup-metrics-auth-role',
      'poddisruptionbudget.policy/podgroup-controller',
      'networkpolicy.networking.k8s.io/podgroup-controller-allow-extender-traffic',
      'networkpolicy.networking.k8s.io/podgroup-controller-allow-metrics-traffic',
      'networkpolicy.networking.k8s.io/podgroup-controller-allow-webhook-traffic',
    ]) {
      expect(real).toContain(object);
    }
    const deployment = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'podgroup-controller', namespace: 'podgroup-system' });
    const container = deployment.spec?.template.spec?.containers[0];
    expect(deployment.spec?.replicas).toBe(2);
    expect(container?.args).toContain('--leader-elect');
    expect(container?.args).toContain('--metrics-bind-address=:8443');
    // The scheduler mounts only its client certificate's Secret (no CA key in it).
    const scheduler = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'podgroup-scheduler', namespace: 'podgroup-system' });
    expect(scheduler.spec?.template.spec?.volumes?.map((v) => v.secret?.secretName).filter(Boolean)).toEqual(['podgroup-scheduler-extender-client']);
    expect(container?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(deployment.spec?.template.spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    // The in-cluster webhook has no running pods here (no Deployment controller, no images):
    // remove its configuration so it does not reject pods in the next steps.
    await admission.deleteMutatingWebhookConfiguration({ name: 'podgroup-controller' });
  });

  it("is least-privilege: kubectl auth can-i as the manager's ServiceAccount", () => {
    const matrix: Array<[string, string, string | undefined, boolean]> = [
      ['create', 'pods', 'default', true],
      ['create', 'pods/binding', 'default', true],
      ['patch', 'podgroups.podgroup.dev/status', 'default', true],
      // blockOwnerDeletion under OwnerReferencesPermissionEnforcement (enabled in the local cluster).
      ['update', 'podgroups.podgroup.dev#finalizers', 'default', true],
      ['list', 'nodes', undefined, true],
      ['get', 'secrets/podgroup-webhook-ca', 'podgroup-system', true],
      ['update', 'secrets/podgroup-extender-tls', 'podgroup-system', true],
      ['get', 'secrets/podgroup-scheduler-extender-client', 'podgroup-system', true],
      ['get', 'secrets', 'podgroup-system', false],
      // The installer creates its Secrets empty (config/manager/secrets.yaml): no create at all.
      ['create', 'secrets', 'podgroup-system', false],
      ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/podgroup-controller', undefined, true],
      ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-elses', undefined, false],
      ['get', 'secrets/someone-elses', 'podgroup-system', false],
      ['list', 'secrets', 'podgroup-system', false],
      ['get', 'secrets', 'default', false],
      ['create', 'tokenreviews.authentication.k8s.io', undefined, true],
      ['create', 'subjectaccessreviews.authorization.k8s.io', undefined, true],
      ['list', 'secrets', 'kube-system', false],
      ['update', 'leases.coordination.k8s.io/podgroup-controller', 'podgroup-system', true],
      ['update', 'leases.coordination.k8s.io/podgroup-scheduler', 'podgroup-system', false],
      ['update', 'leases.coordination.k8s.io', 'kube-system', false],
      ['create', 'clusterroles.rbac.authorization.k8s.io', undefined, false],
      ['create', 'rolebindings.rbac.authorization.k8s.io', 'podgroup-system', false],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io', undefined, false],
      ['delete', 'nodes', undefined, false],
      ['update', 'customresourcedefinitions.apiextensions.k8s.io', undefined, false],
      ['create', 'deployments.apps', 'default', false],
    ];
    const got = matrix.map(([verb, resource, ns]) => [verb, resource, ns, canI(verb, resource, ns)]);
    expect(got).toEqual(matrix);
    const rules = JSON.parse(kubectl(['get', 'clusterrole', 'podgroup-controller', '-o', 'json'])) as {
      rules: Array<{ verbs: string[]; resources: string[]; apiGroups: string[] }>;
    };
    for (const rule of rules.rules) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups]).not.toContain('*');
    }
  });

  it("runs the controller, extender and webhook with only that ServiceAccount's token", async () => {
    const token = await core.createNamespacedServiceAccountToken({
      name: 'podgroup-controller',
      namespace: 'podgroup-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const state = clusterState();
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(state.kubeconfig);
    const cluster = admin.getCurrentCluster();
    const saKubeconfig = join(tmp, 'sa.kubeconfig');
    writeFileSync(
      saKubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: cluster?.server, 'certificate-authority-data': cluster?.caData } }],
        users: [{ name: 'podgroup-controller', user: { token: token.status?.token } }],
        contexts: [{ name: 'sa', context: { cluster: 'local', user: 'podgroup-controller' } }],
        'current-context': 'sa',
      }),
    );
    const port = await freePort();
    await admission.createMutatingWebhookConfiguration({ body: localWebhookConfiguration(port) });
    // The local podgroup-scheduler trusts the extender CA in the local cluster's own namespace
    // (startManager points the manager there): give the account config/rbac's Role there too, as
    // it has it in podgroup-system.
    kubectl(['apply', '-n', clusterState().extenderSecretNamespace, '-f', join(REPO_ROOT, 'config', 'rbac', 'role.yaml')]);
    manager = await startManager([
      '--kubeconfig',
      saKubeconfig,
      '--leader-elect',
      '--leader-election-namespace',
      'podgroup-system',
      ...localWebhookFlags(port, 'podgroup-system'),
      // As deployed: HTTPS metrics with TokenReview + SubjectAccessReview (with the SA's rights),
      // serving a certificate of a CA Prometheus trusts (as cert-manager's, config/certmanager).
      '--metrics-secure=true',
      '--metrics-cert-dir',
      metricsCertDir(),
    ]);
    const metricsUrl = manager.metricsUrl.replace('http://', 'https://');
    const scraper = await serviceAccountToken('podgroup-system', 'e2e-prometheus');
    kubectl([
      'create',
      'clusterrolebinding',
      'e2e-prometheus-podgroup-metrics',
      '--clusterrole=podgroup-metrics-reader',
      '--serviceaccount=podgroup-system:e2e-prometheus',
    ]);
    await eventually(
      'caBundle patched with the SA',
      async () => ((await admission.readMutatingWebhookConfiguration({ name: 'podgroup-controller' })).webhooks?.[0]?.clientConfig.caBundle ?? '') !== '',
    );

    const ns = await createNamespace('e2e-rbac', { [NAMESPACE_LABEL]: 'enabled' });
    try {
      await createPodGroup(ns.name, podGroupManifest('app', { replicas: 3, minAvailable: 3 }));
      const pg = await waitForRollout(ns.name, 'app');
      const pods = await podsOf(ns.name, 'app');
      expect(pods.every((p) => p.spec?.schedulerName === 'podgroup-scheduler' && p.spec.nodeName)).toBe(true);
      expect(pods.every((p) => p.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined)).toBe(true);
      expect(pg.status?.conditions?.find((c) => c.type === 'GangScheduled')?.status).toBe('True');
      await setImage(ns.name, 'app', 'registry.example/web:2');
      await waitForRollout(ns.name, 'app');
      await eventually('revision 2 recorded', async () => (await getPodGroup(ns.name, 'app')).status?.currentRevision !== pg.status?.currentRevision);
      const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=app' });
      expect(events.items.length).toBeGreaterThan(0);
      const metrics = (
        await eventually('metrics with the scraper token', async () => {
          const reply = await send(metricsUrl, { token: scraper });
          return reply.status === 200 ? reply : undefined;
        })
      ).body;
      expect(metrics).not.toMatch(/rest_client_requests_total\{code="403"/);
      expect(metrics).toMatch(/leader_election_master_status\{name="podgroup-controller"\} 1/);

      // A real Prometheus scrapes the manager: the static job of config/prometheus/scrape-config.yaml
      // (HTTPS, bearer token of a ServiceAccount bound to podgroup-metrics-reader), on our port;
      // it evaluates the real alert expressions of config/prometheus/rules, with every `for`
      // shortened to 1s and a 1s evaluation interval (the only test-only changes, with the port
      // and the token file's path).
      const promPort = await freePort();
      const metricsTarget = new URL(metricsUrl).host;
      const shipped = parse(readFileSync(join(REPO_ROOT, 'config', 'prometheus', 'scrape-config.yaml'), 'utf8')) as {
        scrape_configs: Array<{
          job_name: string;
          static_configs?: Array<{ targets: string[] }>;
          authorization?: { credentials_file?: string };
          tls_config?: Record<string, unknown>;
        }>;
      };
      const job = shipped.scrape_configs.find((j) => j.job_name === 'podgroup-controller-local');
      expect(job).toMatchObject({
        scheme: 'https',
        authorization: { credentials_file: 'metrics-reader.token' },
        tls_config: { ca_file: 'metrics-ca.crt', server_name: METRICS_SERVER_NAME },
      });
      // No shipped scrape skips verification.
      expect(shipped.scrape_configs.every((j) => j.tls_config?.insecure_skip_verify === undefined && typeof j.tls_config?.ca_file === 'string')).toBe(true);
      writeFileSync(join(tmp, 'metrics-reader.token'), scraper);
      writeFileSync(join(tmp, 'metrics-ca.crt'), metricsCa.certPem);
      // The same scrape settings against an HTTPS server whose certificate (same name) comes from
      // another CA: refused, where insecure_skip_verify scraped anything.
      const otherCa = createCertificateAuthoritySync('e2e-other-ca', 24 * 3600 * 1000);
      const impostor = issueCertificateSync(otherCa, {
        commonName: METRICS_SERVER_NAME,
        dnsNames: [METRICS_SERVER_NAME],
        ipAddresses: ['127.0.0.1'],
        usages: ['server'],
        validForMs: 24 * 3600 * 1000,
      });
      otherCaServer = createHttpsServer({ cert: impostor.certPem, key: impostor.keyPem }, (_req, res) => res.end('podgroup_spec_replicas 1\n'));
      await new Promise<void>((resolve) => otherCaServer?.listen(0, '127.0.0.1', resolve));
      const impostorTarget = `127.0.0.1:${(otherCaServer.address() as AddressInfo).port}`;
      const config = join(tmp, 'prometheus.yaml');
      const rules = parse(readFileSync(join(REPO_ROOT, 'config', 'prometheus', 'rules', 'podgroup-alerts.yaml'), 'utf8')) as {
        groups: Array<{ rules: Array<{ for?: string }> }>;
      };
      rules.groups.forEach((g) => g.rules.forEach((r) => (r.for = '1s')));
      writeFileSync(join(tmp, 'rules.yaml'), stringify(rules));
      writeFileSync(
        config,
        stringify({
          global: { evaluation_interval: '1s' },
          rule_files: [join(tmp, 'rules.yaml')],
          scrape_configs: [
            {
              ...job,
              job_name: 'podgroup-controller',
              scrape_interval: '1s',
              authorization: { credentials_file: join(tmp, 'metrics-reader.token') },
              tls_config: { ...job?.tls_config, ca_file: join(tmp, 'metrics-ca.crt') },
              static_configs: [{ targets: [metricsTarget] }],
            },
            {
              ...job,
              job_name: 'impostor',
              scrape_interval: '1s',
              authorization: { credentials_file: join(tmp, 'metrics-reader.token') },
              tls_config: { ...job?.tls_config, ca_file: join(tmp, 'metrics-ca.crt') },
              static_configs: [{ targets: [impostorTarget] }],
            },
          ],
        }),
      );
      prometheusPid = startDetached(
        '/usr/bin/prometheus',
        [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`],
        join(tmp, 'prometheus.log'),
        process.env,
      );
      const query = async (q: string): Promise<number | undefined> => {
        const res = await httpGet(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = JSON.parse(res.body) as { data?: { result?: Array<{ value: [number, string] }> } };
        const v = body.data?.result?.[0]?.value[1];
        return v === undefined ? undefined : Number(v);
      };
      await eventually('Prometheus: up == 1', async () => isAlive(prometheusPid ?? 0) && (await query('up{job="podgroup-controller"}')) === 1, 60_000, 500);
      await eventually(
        'Prometheus: the impostor refused (up == 0, unknown authority)',
        async () => {
          const targets = JSON.parse((await httpGet(`http://127.0.0.1:${promPort}/api/v1/targets`)).body) as {
            data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> };
          };
          const target = targets.data.activeTargets.find((t) => t.labels.job === 'impostor');
          return target?.health === 'down' && /x509: certificate signed by unknown authority/.test(target.lastError) ? target : undefined;
        },
        60_000,
        500,
      );
      const reconciles = await eventually(
        'Prometheus: reconciles > 0',
        async () => {
          const v = await query('sum(controller_runtime_reconcile_total{controller="podgroup"})');
          return v !== undefined && v > 0 ? v : undefined;
        },
        60_000,
        500,
      );
      process.stderr.write(`prometheus sees ${reconciles} podgroup reconciles\n`);
      expect(
        await eventually('Prometheus: podgroup_spec_replicas', () => query(`podgroup_spec_replicas{namespace="${ns.name}",podgroup="app"}`), 30_000, 500),
      ).toBe(3);

      // A stuck rollout (nothing can place its pods; a 2s progress deadline) fires PodGroupRolloutStuck.
      const stuck = podGroupManifest('stuck', { replicas: 2, progressDeadlineSeconds: 2 });
      stuck.spec.template.spec = {
        ...stuck.spec.template.spec,
        nodeSelector: { 'podgroup.dev/no-such-node': 'x' },
        containers: stuck.spec.template.spec?.containers ?? [],
      };
      await createPodGroup(ns.name, stuck);
      const firing = await eventually(
        'Prometheus: PodGroupRolloutStuck firing for the stuck PodGroup',
        async () => {
          const res = JSON.parse((await httpGet(`http://127.0.0.1:${promPort}/api/v1/alerts`)).body) as {
            data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
          };
          return res.data.alerts.find((a) => a.labels.alertname === 'PodGroupRolloutStuck' && a.labels.podgroup === 'stuck' && a.state === 'firing');
        },
        90_000,
        500,
      );
      expect(firing.labels).toMatchObject({
        namespace: ns.name,
        condition: 'Progressing',
        status: 'false',
        reason: 'ProgressDeadlineExceeded',
        severity: 'warning',
      });

      // Every query of the Grafana dashboard is valid against this Prometheus and returns data.
      const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'prometheus', 'dashboard.json'), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
      };
      for (const panel of dashboard.panels) {
        for (const target of panel.targets ?? []) {
          const expr = target.expr.replaceAll('$namespace', '.*').replaceAll('$podgroup', '.*').replaceAll('$__rate_interval', '1m');
          await eventually(
            `dashboard panel "${panel.title}": ${expr}`,
            async () => {
              const res = JSON.parse((await httpGet(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`)).body) as {
                status: string;
                error?: string;
                data?: { result: unknown[] };
              };
              if (res.status !== 'success') {
                throw new Error(res.error);
              }
              return (res.data?.result.length ?? 0) > 0;
            },
            60_000,
            500,
          );
        }
      }

      // Deleting the PodGroup removes its series from the next scrape (no stale gauges).
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL, name: 'stuck' });
      await eventually('no series of the deleted PodGroup', async () => !(await send(metricsUrl, { token: scraper })).body.includes('podgroup="stuck"'));
      expect((await send(metricsUrl, { token: scraper })).body).toContain(`podgroup_status_replicas_available{namespace="${ns.name}",podgroup="app"} 3`);
    } finally {
      await ns.remove();
    }
  });
  it('build-installer: one bundle with the image, applied server-side and removed cleanly with kubectl delete -f', async () => {
    // The manager and Prometheus of the previous step go first: the bundle owns their namespace.
    if (prometheusPid !== undefined) {
      await stopProcess(prometheusPid);
      prometheusPid = undefined;
    }
    await manager?.stop();
    manager = undefined;
    // …and the URL-based webhook configuration that pointed at that local process.
    await admission.deleteMutatingWebhookConfiguration({ name: 'podgroup-controller' });
    const bundle = join(tmp, 'install.yaml');
    execFileSync(
      'npm',
      [
        'run',
        '--silent',
        'build-installer',
        '--',
        '--image',
        'registry.example/podgroup-controller:v9.9.9',
        '--control-plane-cidr',
        '127.0.0.1/32',
        '--output',
        bundle,
      ],
      { cwd: REPO_ROOT, stdio: 'inherit' },
    );
    const objects = parseAllDocuments(readFileSync(bundle, 'utf8')).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: { template?: { spec?: { containers?: Array<{ name: string; image: string }> } } } },
    );
    expect(objects[0]?.kind).toBe('MutatingWebhookConfiguration');
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['CustomResourceDefinition', 'ClusterRole', 'Deployment', 'Service', 'Namespace', 'ConfigMap']),
    );
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'podgroup-controller');
    expect(deployment?.spec?.template?.spec?.containers?.[0]?.image).toBe('registry.example/podgroup-controller:v9.9.9');

    const applied = kubectl(['apply', '--server-side', '--force-conflicts', '-f', bundle]);
    expect(applied.trim().split('\n')).toHaveLength(objects.length);
    expect(kubectl(['get', '-f', bundle, '-o', 'name']).trim().split('\n')).toHaveLength(objects.length);

    const deleted = kubectl(['delete', '-f', bundle, '--timeout=120s']);
    expect(deleted.split('\n')[0]).toBe('mutatingwebhookconfiguration.admissionregistration.k8s.io "podgroup-controller" deleted');
    // Nothing left behind: every object of the bundle is gone (the namespace with what the manager made in it).
    expect(kubectl(['get', '-f', bundle, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
    // The CRD and the admission policies went with the bundle: put them back (and wait until the
    // CRD serves) for the tests that follow.
    await installCrds(clusterState());
    installAdmissionPolicies(clusterState());
    await eventually(
      'PodGroups served again',
      async () => {
        await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL });
        return true;
      },
      60_000,
      250,
    );
  });
});
