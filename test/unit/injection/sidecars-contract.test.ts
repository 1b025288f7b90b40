// Contract tests: the containers the webhook injects, run with the real upstream binaries
// (git-sync v4.4.2, Fluent Bit v4.0.3 from ../shared/bin) inside the images the real node runs
// (hack/images: laid out like the upstream ones) under exactly the produced spec — args, env,
// user, mounts, read-only root (see support/container-sandbox.ts for how, and how close to a
// container runtime that is) — against a local Git repository served over smart HTTP and a log
// directory. Without the binaries (or root) the suite says so in one line and is skipped; with
// PODGROUP_REQUIRE_REAL=1 (set by .ci/run) that is a failure instead.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { resolveRequest } from '../../../src/injection/config.js';
import { GIT_SYNC, GIT_SYNC_INIT, LOG_COLLECTOR, mutate, type InjectorSettings } from '../../../src/injection/mutate.js';
import { stageFluentBitImage, stageGitSyncImage } from '../../../hack/images/build.js';
import { FLUENT_BIT_LAYOUT, GIT_SYNC_LAYOUT } from '../../../hack/images/layouts.js';
import { startGitServer } from '../../../hack/real-node/git-server.js';
import { emptyDir, runContainer, sandboxProblem, type RunningContainer } from '../support/container-sandbox.js';

const REQUIRE_REAL = process.env.PODGROUP_REQUIRE_REAL === '1';
// Real processes: allow their own deadlines (below) to fire first, with the processes' output.
jest.setTimeout(60_000);

function missing(): string | undefined {
  for (const layout of [GIT_SYNC_LAYOUT, FLUENT_BIT_LAYOUT]) {
    if (!existsSync(layout.binary.source)) {
      return `${layout.binary.source} is missing (the upstream ${layout.name} binary)`;
    }
  }
  // What the git-sync image is built from (Debian's busybox-static and git).
  for (const path of ['/bin/busybox', '/usr/lib/git-core']) {
    if (!existsSync(path)) {
      return `${path} is missing (the git-sync image is built from it; hack/real-node/install-packages.sh installs it)`;
    }
  }
  return sandboxProblem();
}

const problem = missing();
if (problem !== undefined && !REQUIRE_REAL) {
  console.log(`sidecar contract tests skipped: ${problem}`);
}
const suite = problem === undefined || REQUIRE_REAL ? describe : describe.skip;

const settings: InjectorSettings = { logCollectorImage: FLUENT_BIT_LAYOUT.name, gitSyncImage: GIT_SYNC_LAYOUT.name, nativeSidecars: true };

async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function httpStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** The app's pod as a PodGroup would stamp it, injected with both sidecars from its spec.sidecars. */
function injectedPod(repo: string, mode: 'native' | 'fallback'): k8s.V1Pod {
  const pod: k8s.V1Pod = { metadata: { name: 'site-abc', namespace: 'ns' }, spec: { containers: [{ name: 'app', image: 'app:1' }] } };
  const request = resolveRequest({
    annotations: {},
    namespaceOptIn: false,
    // The local Git server speaks plain http: opted in, as a user serving code on a trusted network would.
    podGroupSidecars: { gitSync: { repo, ref: 'main', period: '1s', mode, allowPlainHTTP: true }, logCollector: { path: '/var/log/app', files: '*.log' } },
  });
  if (request === undefined) {
    throw new Error('no injection request');
  }
  return mutate(pod, request, settings).pod;
}

function container(pod: k8s.V1Pod, name: string): k8s.V1Container {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === name);
  if (found === undefined) {
    throw new Error(`no container ${name}`);
  }
  return found;
}

suite('injected sidecars run with the real binaries', () => {
  let work: string;
  let server: Server | undefined;
  let repoUrl: string;
  let gitSyncImage: string;
  let fluentBitImage: string;
  const clone = (): string => join(work, 'clone');
  const git = (...args: string[]): string => execFileSync('git', ['-C', clone(), ...args], { encoding: 'utf8' });

  function commit(content: string): string {
    writeFileSync(join(clone(), 'index.html'), content);
    git('add', 'index.html');
    git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-q', '-m', content);
    git('push', '-q', 'origin', 'main');
    return git('rev-parse', 'HEAD').trim();
  }

  beforeAll(async () => {
    if (problem !== undefined) {
      throw new Error(`PODGROUP_REQUIRE_REAL=1 but the contract tests cannot run: ${problem}`);
    }
    work = mkdtempSync(join(tmpdir(), 'sidecar-contract-'));
    const repos = join(work, 'repos');
    mkdirSync(repos);
    execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', join(repos, 'site.git')]);
    execFileSync('git', ['clone', '-q', join(repos, 'site.git'), clone()], { stdio: 'ignore' });
    git('checkout', '-q', '-b', 'main');
    commit('<h1>v1</h1>\n');
    const started = await startGitServer(repos, '127.0.0.1', 0);
    server = started.server;
    repoUrl = `${started.url}/site.git`;
    const images = join(work, 'images');
    gitSyncImage = stageGitSyncImage(images);
    fluentBitImage = stageFluentBitImage(images);
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    if (work !== undefined) {
      rmSync(work, { recursive: true, force: true });
    }
  });

  const running: RunningContainer[] = [];
  afterAll(async () => {
    await Promise.all(running.map((c) => c.stop()));
  });

  function podVolumes(pod: k8s.V1Pod, name: string): Record<string, string> {
    const dir = join(work, name);
    mkdirSync(dir);
    const fsGroup = pod.spec?.securityContext?.fsGroup;
    return Object.fromEntries((pod.spec?.volumes ?? []).map((v) => [v.name, emptyDir(dir, v.name, fsGroup)]));
  }

  it('git-sync (native sidecar): syncs, its startup probe answers 200 after the first sync, a new commit appears within the period', async () => {
    const pod = injectedPod(repoUrl, 'native');
    const spec = container(pod, GIT_SYNC);
    const volumes = podVolumes(pod, 'native');
    const code = volumes['podgroup-code'] as string;
    const probe = spec.startupProbe?.httpGet;
    expect(probe).toBeDefined();
    const gitSync = runContainer(pod, spec, gitSyncImage, GIT_SYNC_LAYOUT, volumes);
    running.push(gitSync);
    const page = (): string | undefined => {
      try {
        return readFileSync(join(code, 'current', 'index.html'), 'utf8');
      } catch {
        return undefined;
      }
    };
    await until('the first sync', () => page() === '<h1>v1</h1>\n', 30_000, gitSync.output);
    await until(
      'the startup probe to answer 200',
      async () => (await httpStatus(`http://127.0.0.1:${probe?.port}${probe?.path}`)) === 200,
      10_000,
      gitSync.output,
    );
    // Written by the container's user, group-writable for the app (--group-write).
    const stat = statSync(join(code, 'current', 'index.html'));
    expect([stat.uid, stat.gid]).toEqual([65533, 65533]);
    expect(stat.mode & 0o060).toBe(0o060);
    const before = readlinkSync(join(code, 'current'));
    const hash = commit('<h1>v2</h1>\n');
    await until('the new commit', () => page() === '<h1>v2</h1>\n', 15_000, gitSync.output);
    expect(readlinkSync(join(code, 'current'))).not.toBe(before);
    expect(readlinkSync(join(code, 'current'))).toContain(hash);
    expect(gitSync.output()).not.toContain('FATAL');
    // Its scratch (gitconfig, HOME) is on the emptyDir at /tmp: the read-only root stayed untouched.
    expect(gitSync.child.exitCode).toBeNull();
    await gitSync.stop();
  });

  it('git-sync (fallback init container, --one-time): syncs once and exits 0', async () => {
    const pod = injectedPod(repoUrl, 'fallback');
    const spec = container(pod, GIT_SYNC_INIT);
    expect(spec.args).toContain('--one-time');
    const volumes = podVolumes(pod, 'fallback');
    const init = runContainer(pod, spec, gitSyncImage, GIT_SYNC_LAYOUT, volumes);
    running.push(init);
    const code = await Promise.race([init.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 30_000))]);
    expect({ code, output: code === 0 ? '' : init.output() }).toEqual({ code: 0, output: '' });
    expect(readFileSync(join(volumes['podgroup-code'] as string, 'current', 'index.html'), 'utf8')).toMatch(/<h1>v\d<\/h1>/);
    await init.stop();
  });

  it('a read-only root without the scratch volume reproduces the old failure (the sandbox enforces the read-only root)', async () => {
    const pod = injectedPod(repoUrl, 'fallback');
    const spec = container(pod, GIT_SYNC_INIT);
    const withoutScratch = { ...spec, volumeMounts: (spec.volumeMounts ?? []).filter((m) => m.mountPath !== '/tmp') };
    const volumes = podVolumes(pod, 'no-scratch');
    const init = runContainer(pod, withoutScratch, gitSyncImage, GIT_SYNC_LAYOUT, volumes);
    running.push(init);
    const code = await init.exited;
    expect(code).not.toBe(0);
    expect(init.output()).toContain("can't create gitconfig file");
    await init.stop();
  });

  it("Fluent Bit (log collector): prints the app's lines as JSON with the file name, as a non-root user", async () => {
    const pod = injectedPod(repoUrl, 'native');
    const spec = container(pod, LOG_COLLECTOR);
    const volumes = podVolumes(pod, 'logs');
    const logs = volumes['podgroup-logs'] as string;
    // The app writes its access log (as root, with the usual 022 umask) before and after the collector starts.
    appendFileSync(join(logs, 'access.log'), 'GET /index.html 200\n', { mode: 0o644 });
    const collector = runContainer(pod, spec, fluentBitImage, FLUENT_BIT_LAYOUT, volumes);
    running.push(collector);
    const records = (): Array<Record<string, unknown>> =>
      collector
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await until('the first line as JSON', () => records().some((r) => r.log === 'GET /index.html 200'), 20_000, collector.output);
    appendFileSync(join(logs, 'access.log'), 'GET /missing 404\n');
    await until('a new line as JSON', () => records().some((r) => r.log === 'GET /missing 404'), 20_000, collector.output);
    expect(records().find((r) => r.log === 'GET /missing 404')).toMatchObject({ file: '/var/log/app/access.log' });
    expect(collector.output()).not.toMatch(/\[error\]/);
    expect(collector.child.exitCode).toBeNull();
    await collector.stop();
  });
});
