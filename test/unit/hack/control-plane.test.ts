// The local control plane's pure parts: the component table (start order, ports, logs, how each
// is health-checked), the kubeconfigs issued from the cluster CA, and the podgroup-scheduler's
// configuration pointed at the local extender. Starting them is proven by the e2e cluster tests.
import { afterAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { controlPlaneComponents, KWOK_POD_CIDR } from '../../../hack/control-plane/components.js';
import { localPodGroupSchedulerConfig } from '../../../hack/control-plane/manifests.js';
import { clientKubeconfig, extenderClientTlsFiles, writeAdminKubeconfig, writePki } from '../../../hack/control-plane/pki.js';
import type { ClusterState } from '../../../hack/control-plane/state.js';

const work = mkdtempSync(join(tmpdir(), 'control-plane-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const pki = writePki(work);

describe('controlPlaneComponents', () => {
  const binDir = join(work, 'bin');
  mkdirSync(join(binDir, 'kwok-stages'), { recursive: true });
  writeFileSync(join(binDir, 'kwok-stages', 'pod-ready.yaml'), '');
  const ports = { apiserver: 6443, etcd: 2379, etcdPeer: 2380, kcm: 10257, scheduler: 10259, podgroupScheduler: 10260, kwok: 10247 };
  const components = controlPlaneComponents({
    stateDir: work,
    binDir,
    kubeconfig: join(work, 'kubeconfig'),
    pki,
    ports,
    schedulerConfig: join(work, 'kube-scheduler.yaml'),
    podgroupSchedulerConfig: join(work, 'podgroup-scheduler.yaml'),
  });

  it('starts etcd first and the API server before its clients', () => {
    expect(components.map((c) => c.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'podgroup-scheduler', 'kwok']);
  });

  it('gives every component its own ports, its own log and a health check, none started yet', () => {
    const all = components.flatMap((c) => c.ports);
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual(Object.values(ports).sort());
    for (const c of components) {
      expect(c).toMatchObject({ pid: 0, log: join(work, 'logs', `${c.name}.log`) });
      expect(c.binary.startsWith(binDir)).toBe(true);
      expect(c.health?.url).toContain(`127.0.0.1:${c.ports[0]}`);
    }
    expect(components.find((c) => c.name === 'kube-apiserver')?.health).toEqual({ url: 'https://127.0.0.1:6443/readyz', tls: 'admin' });
  });

  it('runs both schedulers from the same binary with their own configurations', () => {
    const schedulers = components.filter((c) => c.name.endsWith('scheduler'));
    expect(schedulers.map((c) => c.binary)).toEqual([join(binDir, 'kube-scheduler'), join(binDir, 'kube-scheduler')]);
    expect(schedulers.map((c) => c.args[0])).toEqual([`--config=${join(work, 'kube-scheduler.yaml')}`, `--config=${join(work, 'podgroup-scheduler.yaml')}`]);
  });

  it('leaves the replicaset and deployment controllers out, and hands kwok its pod CIDR and stages', () => {
    const kcm = components.find((c) => c.name === 'kube-controller-manager')?.args.find((a) => a.startsWith('--controllers=')) ?? '';
    expect(kcm).not.toMatch(/replicaset|deployment/);
    const kwok = components.find((c) => c.name === 'kwok')?.args ?? [];
    expect(kwok).toContain(`--cidr=${KWOK_POD_CIDR}`);
    expect(kwok).toContain(`--config=${join(binDir, 'kwok-stages', 'pod-ready.yaml')}`);
  });
});

describe('kubeconfigs', () => {
  const loaded = (path: string): k8s.KubeConfig => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
    return kc;
  };
  const commonName = (pem: string): string =>
    new X509Certificate(pem).subject
      .split('\n')
      .find((l) => l.startsWith('CN='))
      ?.slice(3) ?? '';

  it("writes the admin's for the cluster, namespace default, readable by its owner only", () => {
    const path = join(work, 'kubeconfig');
    writeAdminKubeconfig(path, 'https://127.0.0.1:6443', pki);
    const kc = loaded(path);
    expect(kc.getCurrentContext()).toBe('podgroup-local');
    expect(kc.getContextObject('podgroup-local')?.namespace).toBe('default');
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    expect(commonName(Buffer.from(kc.getCurrentUser()?.certData ?? '', 'base64').toString())).toBe('admin');
    expect(statSync(path).mode & 0o077).toBe(0);
  });

  it('issues a client certificate from the cluster CA for a named identity', () => {
    const state = { apiserverUrl: 'https://127.0.0.1:6443', pki } as unknown as ClusterState;
    const kc = loaded(clientKubeconfig(state, join(work, 'node'), 'kubelet', 'system:node:real-node-0', ['system:nodes']));
    const cert = new X509Certificate(Buffer.from(kc.getCurrentUser()?.certData ?? '', 'base64'));
    expect(commonName(cert.toString())).toBe('system:node:real-node-0');
    expect(cert.subject).toContain('O=system:nodes');
    expect(cert.verify(new X509Certificate(readFileSync(pki.caCert)).publicKey)).toBe(true);
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });
});

describe('localPodGroupSchedulerConfig', () => {
  it("points config/scheduler's extender at the local port with the local certificate files", () => {
    const tls = extenderClientTlsFiles(work);
    const config = parseYaml(localPodGroupSchedulerConfig('/k/kubeconfig', 8443, tls, { schedulerName: 'other', ignorable: true })) as {
      clientConnection: { kubeconfig: string };
      leaderElection: { leaderElect: boolean };
      profiles: Array<{ schedulerName: string }>;
      extenders: Array<{ urlPrefix: string; ignorable: boolean; tlsConfig: Record<string, string> }>;
    };
    expect(config.clientConnection.kubeconfig).toBe('/k/kubeconfig');
    expect(config.leaderElection.leaderElect).toBe(false);
    expect(config.profiles.map((p) => p.schedulerName)).toEqual(['other']);
    for (const extender of config.extenders) {
      expect(new URL(extender.urlPrefix).host).toBe('127.0.0.1:8443');
      expect(extender.ignorable).toBe(true);
      expect(extender.tlsConfig).toMatchObject({ certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile });
    }
  });
});
