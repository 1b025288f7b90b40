import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { ROLLBACK_ANNOTATION, type PodGroup } from '../../../src/api/podgroup.js';
import { serverError, type PluginClient, type PodGroupWatch } from '../../../src/plugin/cluster.js';
import { parseInvocation } from '../../../src/plugin/cli.js';
import { newRevision } from '../../../src/podgroup/revisions.js';
import { pauseVerb, statusVerb, undoVerb } from '../../../src/plugin/verbs.js';
import { spec } from '../podgroup/fixtures.js';

describe('parseInvocation', () => {
  it('finds the verb, its NAME and flags anywhere on the line', () => {
    expect(parseInvocation(['-n', 'ns', 'rollout', 'status', 'web', '--watch=false', '--timeout', '5s'])).toMatchObject({
      verb: 'rollout status',
      name: 'web',
      values: { namespace: 'ns', watch: false, timeout: '5s' },
    });
    expect(parseInvocation(['rollout', 'undo', 'web', '--to-revision=2'])).toMatchObject({ verb: 'rollout undo', values: { 'to-revision': '2' } });
    expect(parseInvocation(['inject', '-f', 'x.yaml'])).toMatchObject({ verb: 'inject', values: { filename: 'x.yaml' } });
  });
  it("--help of a verb shows that verb's usage", () => {
    expect(parseInvocation(['rollout', 'history', '--help'])).toEqual({
      help: expect.stringContaining('usage: kubectl podgroup rollout history NAME [--revision N]'),
    });
  });
  it("rejects unknown flags, another verb's flags, missing names and unknown verbs", () => {
    expect(() => parseInvocation(['rollout', 'status', 'web', '--bogus'])).toThrow('unknown flag --bogus');
    expect(() => parseInvocation(['rollout', 'pause', 'web', '--revision', '2'])).toThrow('unknown flag --revision');
    expect(() => parseInvocation(['rollout', 'pause'])).toThrow('NAME is required');
    expect(() => parseInvocation(['rollout', 'fly', 'web'])).toThrow('unknown command "rollout fly"');
    expect(() => parseInvocation(['rollout'])).toThrow('rollout needs a subcommand');
    expect(() => parseInvocation(['-n', 'ns', 'rollout', 'status', 'web', '--bogus'])).toThrow(
      expect.objectContaining({ message: 'unknown flag --bogus', verb: 'rollout status' }) as unknown as Error,
    );
  });
});

/** A recording fake of the plugin's API adapter. */
class FakeClient implements PluginClient {
  readonly namespace = 'ns';
  readonly calls: string[] = [];
  watchEvents: Array<[string, PodGroup]> = [];
  constructor(
    public pg: PodGroup,
    public revisions: k8s.V1ControllerRevision[] = [],
  ) {}
  async getPodGroup(name: string): Promise<PodGroup> {
    this.calls.push(`get ${name}`);
    return structuredClone(this.pg);
  }
  async watchPodGroup(name: string, rv: string, onChange: (type: string, pg: PodGroup) => void): Promise<PodGroupWatch> {
    this.calls.push(`watch ${name} from ${rv}`);
    let aborted = false;
    const done = (async () => {
      for (const [type, pg] of this.watchEvents) {
        await Promise.resolve();
        if (!aborted) {
          onChange(type, pg);
        }
      }
    })();
    return {
      done,
      abort: () => {
        aborted = true;
      },
    };
  }
  async patchPodGroup(name: string, patch: object): Promise<PodGroup> {
    this.calls.push(`patch ${name} ${JSON.stringify(patch)}`);
    // The controller applies a rollback at once in this fake.
    const annotations = { ...this.pg.metadata?.annotations };
    delete annotations[ROLLBACK_ANNOTATION];
    this.pg = { ...this.pg, metadata: { ...this.pg.metadata, annotations } };
    return this.pg;
  }
  async listRevisions(): Promise<k8s.V1ControllerRevision[]> {
    return this.revisions;
  }
  async listPods(): Promise<k8s.V1Pod[]> {
    return [];
  }
  async listEvents(): Promise<k8s.CoreV1Event[]> {
    return [];
  }
}

const pg = (status: PodGroup['status'], image = 'x:2'): PodGroup => ({
  metadata: { name: 'web', namespace: 'ns', generation: 1, resourceVersion: '10' },
  spec: { ...spec(), template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image }] } } },
  status: { observedGeneration: 1, ...status },
});

describe('verbs through a recording fake', () => {
  it('status prints each new line and stops when rolled out', async () => {
    const client = new FakeClient(pg({ replicas: 3, updatedReplicas: 1 }));
    client.watchEvents = [
      ['MODIFIED', pg({ replicas: 3, updatedReplicas: 1 })],
      ['MODIFIED', pg({ replicas: 3, updatedReplicas: 3, availableReplicas: 2 })],
      ['MODIFIED', pg({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 })],
    ];
    const out: string[] = [];
    await expect(statusVerb(client, 'web', { watch: true, timeoutMs: 0 }, (t) => out.push(t))).resolves.toBe(0);
    expect(out).toEqual([
      'Waiting for podgroup "web" rollout to finish: 1 out of 3 new replicas have been updated...\n',
      'Waiting for podgroup "web" rollout to finish: 2 of 3 updated replicas are available...\n',
      'podgroup "web" successfully rolled out\n',
    ]);
    expect(client.calls).toEqual(['get web', 'watch web from 10']);
  });
  it('status --watch=false prints once; a deleted object is an error', async () => {
    const client = new FakeClient(pg({ replicas: 3, updatedReplicas: 1 }));
    await expect(statusVerb(client, 'web', { watch: false, timeoutMs: 0 }, () => undefined)).resolves.toBe(0);
    expect(client.calls).toEqual(['get web']);
    client.watchEvents = [['DELETED', pg({})]];
    await expect(statusVerb(client, 'web', { watch: true, timeoutMs: 0 }, () => undefined)).rejects.toThrow('object has been deleted');
  });
  it('undo sets the rollback annotation and waits for the controller', async () => {
    const revisions = [newRevision(pg({}, 'x:1'), 'a', 1), newRevision(pg({}, 'x:2'), 'b', 2)];
    const client = new FakeClient(pg({}, 'x:2'), revisions);
    const out: string[] = [];
    await undoVerb(client, 'web', { toRevision: 0, timeoutMs: 1000, pollMs: 1 }, (t) => out.push(t));
    expect(client.calls).toContain(`patch web {"metadata":{"annotations":{"${ROLLBACK_ANNOTATION}":"1"}}}`);
    expect(out).toEqual(['podgroup.podgroup.dev/web rolled back\n']);
  });
  it('pause patches spec.paused', async () => {
    const client = new FakeClient(pg({}));
    const out: string[] = [];
    await pauseVerb(client, 'web', true, (t) => out.push(t));
    expect(client.calls).toEqual(['get web', 'patch web {"spec":{"paused":true}}']);
    expect(out).toEqual(['podgroup.podgroup.dev/web paused\n']);
  });
});

describe('serverError', () => {
  it('words API answers as kubectl does, with or without a Status body', () => {
    const status = new k8s.ApiException(
      404,
      'Not Found',
      JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'podgroups.podgroup.dev "x" not found' }),
      {},
    );
    expect(String(serverError(status))).toBe('Error: Error from server (NotFound): podgroups.podgroup.dev "x" not found');
    expect(String(serverError(new k8s.ApiException(404, 'Not Found', '404 page not found\n', {})))).toBe(
      'Error: Error from server (NotFound): the server could not find the requested resource',
    );
    expect(String(serverError(new k8s.ApiException(503, 'x', '', {})))).toBe('Error: Error from server: the server responded with HTTP 503');
  });
});
