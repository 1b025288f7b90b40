// `npm run generate [-- --kubeconfig FILE] [--check]`: writes crds/podgroup.yaml from a running
// API server (default: the local cluster). --check exits 1 when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseCommandLine, runCommandLine } from '../../src/cli-args.js';
import { DEFAULT_STATE_DIR } from '../control-plane/paths.js';
import { CRD_FILE, renderCrd } from './generate.js';

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    args: process.argv.slice(2),
    options: {
      kubeconfig: { type: 'string', default: process.env.KUBECONFIG ?? join(DEFAULT_STATE_DIR, 'kubeconfig') },
      check: { type: 'boolean', default: false },
    },
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(values.kubeconfig);
  const rendered = await renderCrd(kc);
  if (values.check) {
    if (readFileSync(CRD_FILE, 'utf8') !== rendered) {
      console.error(`${CRD_FILE} is out of date: run npm run generate`);
      process.exitCode = 1;
    }
    return;
  }
  writeFileSync(CRD_FILE, rendered);
  console.log(`wrote ${CRD_FILE}`);
}

runCommandLine('generate', 'usage: npm run generate [-- --kubeconfig FILE] [--check]', main);
