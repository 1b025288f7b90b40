// `npm run build-installer -- --image REPO[:TAG|@DIGEST] --control-plane-cidr CIDR [--output FILE]`: one install bundle
// (dist/install.yaml: CRD, RBAC, manager, webhook, scheduler, metrics Service) rendered from
// config/default with the manager image set, as kubebuilder's `make build-installer IMG=…` does.
// Install: kubectl apply --server-side -f dist/install.yaml. Remove: kubectl delete -f dist/install.yaml
// (the MutatingWebhookConfiguration comes first, so it is deleted before the webhook's pods).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { parseCommandLine, runCommandLine, UsageError } from '../src/cli-args.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The image name config/manager's kustomization sets (the one to replace). */
const MANAGER_IMAGE = 'ghcr.io/podgroup-controller/podgroup-controller';

const usage = `usage: npm run build-installer -- --image REPO[:TAG|@sha256:DIGEST] --control-plane-cidr CIDR [--output FILE]
  Writes the install bundle (default dist/install.yaml) from config/default with the manager image
  and the control-plane CIDR of its NetworkPolicies (config/network-policy/params.env).
`;

/** Splits REPO[:TAG|@DIGEST] (a registry port's colon is part of REPO). */
export function parseImage(image: string): { newName: string; newTag?: string; digest?: string } {
  const at = image.indexOf('@');
  if (at > 0) {
    return { newName: image.slice(0, at), digest: image.slice(at + 1) };
  }
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? { newName: image.slice(0, colon), newTag: image.slice(colon + 1) } : { newName: image };
}

/** An IPv4 or IPv6 CIDR, or a UsageError naming the flag. */
export function checkCidr(cidr: string): string {
  const m = /^([0-9.]+|[0-9a-fA-F:]+)\/(\d{1,3})$/.exec(cidr);
  const bits = Number(m?.[2]);
  const v4 = m?.[1]?.includes('.') === true;
  if (
    m === null ||
    (v4 && (bits > 32 || !(m[1] ?? '').split('.').every((o, _i, all) => all.length === 4 && /^\d{1,3}$/.test(o) && Number(o) <= 255))) ||
    (!v4 && bits > 128)
  ) {
    throw new UsageError(`--control-plane-cidr: ${JSON.stringify(cidr)} is not a CIDR (e.g. 10.0.0.0/24)`);
  }
  return cidr;
}

/**
 * Renders config/default through a temporary overlay that only sets the image and the
 * NetworkPolicies' control-plane CIDR; the webhook configuration first.
 */
export function renderInstaller(image: string, controlPlaneCidr: string): string {
  const overlay = mkdtempSync(join(tmpdir(), 'podgroup-installer-'));
  try {
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(overlay, join(root, 'config', 'default'))],
        images: [{ name: MANAGER_IMAGE, ...parseImage(image) }],
        configMapGenerator: [
          {
            name: 'podgroup-network-policy-params',
            namespace: 'podgroup-system',
            behavior: 'merge',
            literals: [`control-plane-cidr=${checkCidr(controlPlaneCidr)}`],
          },
        ],
        components: [relative(overlay, join(root, 'config', 'network-policy', 'parameters'))],
      }),
    );
    const rendered = execFileSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    const docs = parseAllDocuments(rendered).map((d) => d.toJS() as { kind?: string });
    const webhooksFirst = [...docs.filter((d) => d.kind === 'MutatingWebhookConfiguration'), ...docs.filter((d) => d.kind !== 'MutatingWebhookConfiguration')];
    const header = `# podgroup-controller install bundle (npm run build-installer -- --image ${image}). Generated; do not edit.\n# kubectl apply --server-side -f install.yaml   |   kubectl delete -f install.yaml\n`;
    return header + webhooksFirst.map((d) => `---\n${stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

function main(argv: string[]): void {
  const { values } = parseCommandLine({
    args: argv,
    options: { image: { type: 'string' }, 'control-plane-cidr': { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  if (values.image === undefined || values.image === '') {
    throw new UsageError('flag --image is required');
  }
  const cidr = values['control-plane-cidr'];
  if (cidr === undefined || cidr === '') {
    throw new UsageError(
      'flag --control-plane-cidr is required: the NetworkPolicies let the API server reach the webhook, and the manager reach the API server, from and at that CIDR',
    );
  }
  const output = resolve(values.output ?? join(root, 'dist', 'install.yaml'));
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, renderInstaller(values.image, cidr));
  process.stdout.write(`wrote ${output}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runCommandLine('build-installer', usage, () => main(process.argv.slice(2)));
}
