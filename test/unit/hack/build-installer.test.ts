import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { checkCidr, renderInstaller } from '../../../hack/build-installer.js';

describe("build-installer and the NetworkPolicies' control-plane CIDR", () => {
  it('puts the CIDR into the webhook ingress and the API server egress', () => {
    const docs = parseAllDocuments(renderInstaller('registry.example/pgc:v1', '10.0.0.0/24')).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> },
    );
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    const text = JSON.stringify(policies);
    expect(text).not.toContain('set-the-control-plane-cidr');
    const webhook = policies.find((p) => p.metadata.name === 'podgroup-controller-allow-webhook-traffic');
    expect(webhook?.spec).toMatchObject({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ port: 9443 }] }] });
    const egress = policies.find((p) => p.metadata.name === 'podgroup-allow-api-server-and-dns');
    expect(egress?.spec).toMatchObject({
      policyTypes: ['Egress'],
      egress: [
        { to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ port: 6443 }] },
        {
          ports: [
            { port: 53, protocol: 'UDP' },
            { port: 53, protocol: 'TCP' },
          ],
        },
      ],
    });
    // The parameters are not installed.
    expect(docs.some((d) => d.kind === 'ConfigMap' && d.metadata.name === 'podgroup-network-policy-params')).toBe(false);
  });

  it('refuses what is not a CIDR', () => {
    expect(checkCidr('172.18.0.0/16')).toBe('172.18.0.0/16');
    expect(checkCidr('fd00::/64')).toBe('fd00::/64');
    for (const bad of ['172.18.0.0', '172.18.0.0/33', '300.1.1.1/8', 'kind', '']) {
      expect(() => checkCidr(bad)).toThrow('--control-plane-cidr');
    }
  });
});
