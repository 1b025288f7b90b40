// Every command the demo and the README show works when pasted. The demo runs each "$ " command it
// prints exactly as printed (so a clean exit proves those); this test then pastes what the demo
// leaves for the user ("Explore it") and the blocks of README.md and docs/ marked
// `<!-- pasted by test/e2e/demo.test.ts -->` into bash, from the repository root, against the
// demo's own cluster (a state dir of its own, so a developer's `.cluster/` is never touched).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { down } from '../../hack/cluster/local-cluster.js';
import { DEFAULT_STATE_DIR, REPO_ROOT } from '../../hack/control-plane/paths.js';
import { killAll, startTs } from './support/processes.js';

const stateDir = join(REPO_ROOT, '.cluster-demo-test');
const shownStateDir = relative(REPO_ROOT, stateDir);
const MARKER = '<!-- pasted by test/e2e/demo.test.ts -->';

/** Runs a block of pasted lines in one bash (so `export` carries over), stopping at the first failure. */
function paste(lines: string[]): { status: number | null; output: string } {
  const script = ['set -euo pipefail', 'set -x', ...lines].join('\n');
  const result = spawnSync('bash', ['-c', script], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' }, timeout: 180_000 });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

/** The lines of the fenced blocks of README.md and docs/ that follow MARKER, pointed at this test's cluster. */
function markedReadmeBlocks(): string[][] {
  const pages = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
  ];
  const readme = pages.map((page) => readFileSync(join(REPO_ROOT, page), 'utf8')).join('\n');
  const blocks: string[][] = [];
  for (const match of readme.matchAll(new RegExp(`${MARKER}\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``, 'g'))) {
    const defaultDir = relative(REPO_ROOT, DEFAULT_STATE_DIR);
    blocks.push(
      (match[1] ?? '')
        .split('\n')
        .map((line) => line.replaceAll(`${defaultDir}/`, `${shownStateDir}/`))
        .map((line) =>
          line.trim() === 'npm run cluster:down' || line.startsWith('npm run cluster:down ')
            ? line.replace('npm run cluster:down', `npm run cluster:down -- --state-dir ${shownStateDir}`)
            : line,
        ),
    );
  }
  return blocks;
}

describe('the demo and the README, pasted', () => {
  afterAll(async () => {
    await killAll();
    await down({ stateDir, log: () => undefined });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs the demo to the end, then every command it and the README leave for the user', async () => {
    const demo = startTs('hack/demo.ts', ['--state-dir', stateDir], 'demo');
    let stdout = '';
    demo.child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    await demo.waitForLine(/^Stop everything with:/, 360_000);
    expect(await demo.exited).toBe(0);

    const printed = stdout.split('\n').filter((l) => l.startsWith('$ '));
    expect(printed.length).toBeGreaterThan(8);
    expect(printed).toContain('$ kubectl apply --server-side -k crds/');

    // What the demo hands over: the lines between its "Explore it" header and "Stop everything with".
    const explore = stdout
      .slice(stdout.indexOf('Explore it'), stdout.indexOf('Stop everything with:'))
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    expect(explore[0]).toBe(`export KUBECONFIG=${shownStateDir}/kubeconfig`);
    const handedOver = paste(explore);
    expect({ status: handedOver.status, output: handedOver.output }).toMatchObject({ status: 0 });
    expect(handedOver.output).toContain('controller_runtime_reconcile_total');

    const stopLine = /Stop everything with: (.*)/.exec(stdout)?.[1] ?? '';
    expect(stopLine).toBe(`npm run cluster:down -- --state-dir ${shownStateDir}`);

    const blocks = markedReadmeBlocks();
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const result = paste(block);
      expect({ block, status: result.status, output: result.output }).toMatchObject({ status: 0 });
    }
  });
});
