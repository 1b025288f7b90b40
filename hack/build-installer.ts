// `npm run build-installer -- --image REPO[:TAG|@DIGEST] [--output FILE]`: one install bundle
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

const usage = `usage: npm run build-installer -- --image REPO[:TAG|@sha256:DIGEST] [--output FILE]
  Writes the install bundle (default dist/install.yaml) from config/default with the manager image.
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

/** Renders config/default through a temporary overlay that only sets the image; the webhook configuration first. */
export function renderInstaller(image: string): string {
  const overlay = mkdtempSync(join(tmpdir(), 'podgroup-installer-'));
  try {
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relative(overlay, join(root, 'config', 'default'))], images: [{ name: MANAGER_IMAGE, ...parseImage(image) }] }),
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
  const { values } = parseCommandLine({ args: argv, options: { image: { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  if (values.image === undefined || values.image === '') {
    throw new UsageError('flag --image is required');
  }
  const output = resolve(values.output ?? join(root, 'dist', 'install.yaml'));
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, renderInstaller(values.image));
  process.stdout.write(`wrote ${output}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runCommandLine('build-installer', usage, () => main(process.argv.slice(2)));
}
