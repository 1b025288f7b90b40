#!/usr/bin/env node
// `podgroup inject -f FILE` — the webhook's mutation, offline (like `istioctl kube-inject`):
// reads Pods or objects with a pod template (PodGroup, Deployment, Job, CronJob, ...) and prints
// them with the sidecars the webhook would inject. Same code as the webhook: config.ts + mutate.ts.
import { readFileSync } from 'node:fs';
import { parseCommandLine, runCommandLine, UsageError } from './cli-args.js';
import { injectDocuments } from './injection/manifests.js';
import { DEFAULT_GIT_SYNC_IMAGE, DEFAULT_LOG_COLLECTOR_IMAGE } from './injection/mutate.js';

const usage = `usage: podgroup inject -f FILE|- [--namespace-enabled] [--fallback] [--log-collector-image IMG] [--git-sync-image IMG]
  Prints the objects in FILE with the sidecars the podgroup webhook would inject.
  --namespace-enabled   as if the namespace had the label sidecars.podgroup.dev/injection=enabled
  --fallback            as on a cluster without native sidecars (Kubernetes < 1.29)
`;

function main(argv: string[]): void {
  const { positionals, values } = parseCommandLine({
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
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  if (positionals[0] !== 'inject') {
    throw new UsageError(positionals[0] === undefined ? 'missing command' : `unknown command ${JSON.stringify(positionals[0])}`);
  }
  if (values.filename === undefined) {
    throw new UsageError('flag -f FILE is required');
  }
  const text = readFileSync(values.filename === '-' ? 0 : values.filename, 'utf8');
  process.stdout.write(
    injectDocuments(text, {
      namespaceEnabled: values['namespace-enabled'],
      settings: { logCollectorImage: values['log-collector-image'], gitSyncImage: values['git-sync-image'], nativeSidecars: !values.fallback },
    }),
  );
}

runCommandLine('podgroup', usage, () => main(process.argv.slice(2)));
