// Every CLI the project ships answers a bad command line the same way: one line naming the flag,
// then its usage, exit code 2 — no stack trace. Each is started as `npm run` starts it (ts-node),
// with nothing else running: the command line is checked before any cluster work begins.
import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../hack/control-plane/paths.js';

function run(entry: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', entry, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const CLIS: Array<[name: string, entry: string, args: string[], message: string]> = [
  ['cluster', 'hack/cluster/main.ts', ['up', '--real-nod'], 'cluster: unknown flag --real-nod'],
  ['cluster', 'hack/cluster/main.ts', ['up', '--nodes', 'many'], 'cluster: --nodes: "many" must be an integer >= 0'],
  ['cluster', 'hack/cluster/main.ts', ['launch'], 'cluster: unknown command "launch"'],
  ['demo', 'hack/demo.ts', ['--bogus'], 'demo: unknown flag --bogus'],
  ['generate', 'hack/crd/main.ts', ['--kubeconfig'], 'generate: flag --kubeconfig needs a value'],
  ['bench:controllers', 'bench/controllers.ts', ['--only', 'fast'], 'bench:controllers: --only: "fast" is not equal or unthrottled'],
  ['bench:memory', 'bench/memory.ts', ['--pods=-5'], 'bench:memory: --pods: "-5" must be an integer >= 1'],
  ['bench:extender', 'bench/extender.ts', ['--bogus'], 'bench:extender: unknown flag --bogus'],
  ['bench:webhook', 'bench/webhook.ts', ['--bogus'], 'bench:webhook: unknown flag --bogus'],
  ['kubectl-podgroup', 'src/plugin/main.ts', ['inject', '--bogus'], 'kubectl-podgroup: unknown flag --bogus'],
  [
    'kubectl-podgroup',
    'src/plugin/main.ts',
    ['-n', 'x', 'rollout', 'status', 'web', '--timeout', 'soon'],
    'kubectl-podgroup: --timeout: "soon" is not a duration (examples: 500ms, 15s, 1m30s)',
  ],
  ['build-installer', 'hack/build-installer.ts', ['--imag', 'x'], 'build-installer: unknown flag --imag'],
  ['generate (PrometheusRule)', 'hack/prometheus/rule.ts', ['--bogus'], 'generate: unknown flag --bogus'],
  ['podgroup-controller', 'src/main.ts', ['--bogus'], 'podgroup-controller: unknown flag --bogus'],
  ['podgroup-controller', 'src/main.ts', ['--log-level=loud'], 'podgroup-controller: --log-level: "loud" is not one of error, warn, info, debug'],
];

describe('command lines', () => {
  it('name the bad flag in one line, print the usage and exit 2', async () => {
    // Three at a time: a dozen ts-node starts at once on 2 shared cores once took longer than
    // the 60 s each run is allowed (CI: the cluster CLI killed with no output).
    const results: ({ name: string; args: string[]; message: string } & Awaited<ReturnType<typeof run>>)[] = [];
    for (let i = 0; i < CLIS.length; i += 3) {
      results.push(
        ...(await Promise.all(CLIS.slice(i, i + 3).map(async ([name, entry, args, message]) => ({ name, args, message, ...(await run(entry, args)) })))),
      );
    }
    for (const { name, args, message, code, stderr } of results) {
      const lines = stderr.trimEnd().split('\n');
      expect({ name, args, code, first: lines[0] }).toEqual({ name, args, code: 2, first: message });
      expect({ name, usage: lines.slice(1).join('\n') }).toMatchObject({ name, usage: expect.stringContaining('usage:') });
      expect({ name, stderr }).not.toMatchObject({ stderr: expect.stringMatching(/\n\s+at |TypeError|ERR_PARSE_ARGS/) });
    }
  });
});
