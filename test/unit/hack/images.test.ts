// The offline image builder's pure parts: image names as containerd stores them, and an OCI
// archive whose index, manifest, config and layer agree (digests, sizes, names, the image config).
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeImageName, stageRootfs, writeOciArchive } from '../../../hack/images/oci.js';
import { sampleOnRealNode } from '../../../hack/real-node/node.js';

const work = mkdtempSync(join(tmpdir(), 'oci-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('normalizeImageName', () => {
  it.each([
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['library/nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['registry.k8s.io/git-sync/git-sync:v4.4.2', 'registry.k8s.io/git-sync/git-sync:v4.4.2'],
    ['localhost:5000/app:1', 'localhost:5000/app:1'],
  ])('%s → %s', (name, full) => {
    expect(normalizeImageName(name)).toBe(full);
  });
});

describe('writeOciArchive', () => {
  it('writes an image layout whose blobs match their digests, named for containerd', () => {
    const rootfs = stageRootfs(join(work, 'rootfs'));
    writeFileSync(join(rootfs, 'hello'), 'hi\n');
    const archive = writeOciArchive(
      rootfs,
      { user: '65533:65533', env: { HOME: '/tmp' }, entrypoint: ['/hello'], cmd: ['-x'], workingDir: '/tmp' },
      ['nginx:1.27', 'nginx:1.28'],
      join(work, 'image.tar'),
    );
    const out = join(work, 'out');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-C', out, '-xf', archive]);
    const blob = (digest: string): Buffer => readFileSync(join(out, 'blobs', 'sha256', digest.replace('sha256:', '')));
    const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; size: number; annotations: Record<string, string> }>;
    };
    expect(index.manifests.map((m) => m.annotations['io.containerd.image.name'])).toEqual(['docker.io/library/nginx:1.27', 'docker.io/library/nginx:1.28']);
    const m = index.manifests[0] as { digest: string; size: number };
    expect(sha(blob(m.digest))).toBe(m.digest);
    expect(blob(m.digest).length).toBe(m.size);
    const manifest = JSON.parse(blob(m.digest).toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
    const layer = manifest.layers[0] as { digest: string; size: number };
    expect(sha(blob(layer.digest))).toBe(layer.digest);
    const config = JSON.parse(blob(manifest.config.digest).toString()) as { config: Record<string, unknown>; rootfs: { diff_ids: string[] } };
    expect(config.config).toEqual({ User: '65533:65533', Env: ['HOME=/tmp'], Entrypoint: ['/hello'], Cmd: ['-x'], WorkingDir: '/tmp' });
    expect(config.rootfs.diff_ids).toEqual([layer.digest]);
    const listing = execFileSync('tar', ['-tvf', join(out, 'blobs', 'sha256', layer.digest.replace('sha256:', ''))], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rw-r--r-- 0\/0 .* \.\/hello$/m);
    expect(listing).toMatch(/\.\/bin -> usr\/bin/);
  });
});

describe('sampleOnRealNode', () => {
  it('pins every PodGroup to the real node and points its git-sync at the given repository', () => {
    const sample = readFileSync(join(process.cwd(), 'config', 'samples', 'podgroup-sidecars.yaml'), 'utf8');
    const out = sampleOnRealNode(sample, 'http://10.88.0.1:1234/site.git');
    expect(out).toContain('kind: ConfigMap');
    expect(out).toMatch(/nodeSelector:\s+type: real/);
    expect(out).toMatch(/key: podgroup.dev\/real-node/);
    expect(out).toMatch(/repo: http:\/\/10.88.0.1:1234\/site.git\s+ref: main\s+period: 5s/);
    expect(out).toContain('root /git/current;');
  });
});
