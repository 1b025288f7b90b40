// The GitOps checkers (hack/build-gitops-tools.sh): kstatus from sigs.k8s.io/cli-utils and Argo
// CD's health-script evaluation on gopher-lua, built once and cached; each reads JSON on stdin
// and answers one verdict per object.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './control-plane/paths.js';

export interface Verdict {
  status?: string;
  message?: string;
  error?: string;
}

let binDir: string | undefined;

/** Builds what is missing (about 40 s cold, nothing when cached) and returns the bin dir. */
export function gitopsToolsDir(): string {
  binDir ??= execFileSync(join(REPO_ROOT, 'hack', 'build-gitops-tools.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  }).trim();
  return binDir;
}

function run(tool: string, input: unknown): Verdict[] {
  const out = execFileSync(join(gitopsToolsDir(), tool), { input: JSON.stringify(input), encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as Verdict[];
}

/** What kstatus (cli-utils) computes for each object. */
export const kstatus = (objects: object[]): Verdict[] => run('kstatus', objects);

/** What an Argo CD health script returns for each object, evaluated as Argo CD does. */
export const argoHealth = (script: string, objects: object[]): Verdict[] => run('argocd-lua', { script, objects });

export const ARGOCD_CUSTOMIZATIONS = join(REPO_ROOT, 'config', 'argocd', 'resource_customizations');
