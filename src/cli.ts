#!/usr/bin/env node
// `podgroup inject -f FILE` — the webhook's mutation, offline (like `istioctl kube-inject`):
// reads Pods or objects with a pod template (PodGroup, Deployment, Job, CronJob, ...) and prints
// them with the sidecars the webhook would inject. Same code as the webhook: config.ts + mutate.ts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { injectDocuments } from './injection/manifests.js';
import { DEFAULT_GIT_SYNC_IMAGE, DEFAULT_LOG_COLLECTOR_IMAGE } from './injection/mutate.js';

const usage = `usage: podgroup inject -f FILE|- [--namespace-enabled] [--fallback] [--log-collector-image IMG] [--git-sync-image IMG]
  Prints the objects in FILE with the sidecars the podgroup webhook would inject.
  --namespace-enabled   as if the namespace had the label sidecars.podgroup.dev/injection=enabled
  --fallback            as on a cluster without native sidecars (Kubernetes < 1.29)
`;

function main(argv: string[]): number {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      filename: { type: 'string', short: 'f' },
      'namespace-enabled': { type: 'boolean', default: false },
      fallback: { type: 'boolean', default: false },
      'log-collector-image': { type: 'string', default: DEFAULT_LOG_COLLECTOR_IMAGE },
      'git-sync-image': { type: 'string', default: DEFAULT_GIT_SYNC_IMAGE },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true || positionals[0] !== 'inject' || values.filename === undefined) {
    process.stderr.write(usage);
    return values.help === true ? 0 : 2;
  }
  const text = readFileSync(values.filename === '-' ? 0 : values.filename, 'utf8');
  process.stdout.write(
    injectDocuments(text, {
      namespaceEnabled: values['namespace-enabled'],
      settings: { logCollectorImage: values['log-collector-image'], gitSyncImage: values['git-sync-image'], nativeSidecars: !values.fallback },
    }),
  );
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`podgroup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
