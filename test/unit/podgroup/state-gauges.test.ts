import { describe, expect, it } from '@jest/globals';
import client from 'prom-client';
import type { DefaultedPodGroup } from '../../../src/api/podgroup.js';
import { PodGroupStateRenderer, registerPodGroupStateMetrics } from '../../../src/podgroup/state-exporter.js';
import { podGroupSamples, STATE_GAUGES, type StateGauge } from '../../../src/podgroup/state-gauges.js';
import { scrape } from '../../../src/runtime/metrics.js';
import { spec } from './fixtures.js';

const pg = (name: string, overrides: Partial<DefaultedPodGroup> = {}): DefaultedPodGroup => ({
  metadata: { name, namespace: 'ns', generation: 3 },
  spec: spec({ minAvailable: 2 }),
  status: {
    observedGeneration: 2,
    replicas: 4,
    readyReplicas: 3,
    availableReplicas: 2,
    updatedReplicas: 1,
    unavailableReplicas: 2,
    conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
  },
  ...overrides,
});

describe('podGroupSamples (kube-state-metrics shape)', () => {
  it('derives every gauge from the object', () => {
    const byName = Object.fromEntries(
      podGroupSamples(pg('web'))
        .filter((s) => s.gauge !== 'podgroup_status_condition')
        .map((s) => [s.gauge, s.value]),
    );
    expect(byName).toEqual({
      podgroup_spec_replicas: 3,
      podgroup_spec_min_available: 2,
      podgroup_spec_paused: 0,
      podgroup_metadata_generation: 3,
      podgroup_status_observed_generation: 2,
      podgroup_status_replicas: 4,
      podgroup_status_replicas_ready: 3,
      podgroup_status_replicas_available: 2,
      podgroup_status_replicas_updated: 1,
      podgroup_status_replicas_unavailable: 2,
    });
    const conditions = podGroupSamples(pg('web')).filter((s) => s.gauge === 'podgroup_status_condition');
    expect(conditions.map((s) => [s.labels.status, s.value])).toEqual([
      ['true', 0],
      ['false', 1],
      ['unknown', 0],
    ]);
    expect(conditions[0]?.labels).toEqual({ namespace: 'ns', podgroup: 'web', condition: 'Progressing', status: 'true', reason: 'ProgressDeadlineExceeded' });
  });
});

describe('PodGroupStateRenderer', () => {
  it('renders the cache at scrape time, only on the leader, and leaves no series of a deleted PodGroup', async () => {
    const objects = new Map([
      ['ns/a', pg('a')],
      ['ns/b', pg('b')],
    ]);
    let leader = false;
    const renderer = new PodGroupStateRenderer({ store: { list: () => [...objects.values()] }, isLeader: () => leader });
    expect(await renderer.render()).toEqual([]);
    leader = true;
    let text = (await renderer.render()).join('');
    expect(text).toContain('# TYPE podgroup_spec_replicas gauge\n');
    expect(text).toContain('podgroup_spec_replicas{namespace="ns",podgroup="a"} 3\n');
    expect(text).toContain(
      'podgroup_status_condition{namespace="ns",podgroup="b",condition="Progressing",status="false",reason="ProgressDeadlineExceeded"} 1\n',
    );
    objects.delete('ns/a');
    text = (await renderer.render()).join('');
    expect(text).not.toContain('podgroup="a"');
    expect(text).toContain('podgroup_spec_replicas{namespace="ns",podgroup="b"} 3');
  });

  it('is the exposition prom-client renders for the same samples (help, type, escaping)', async () => {
    const odd = pg('b', { metadata: { name: 'b', namespace: 'ns', generation: 1 } });
    odd.status = { conditions: [{ type: 'Ready', status: 'True', reason: 'quote " backslash \\ newline \n end' }] };
    const objects = [pg('a'), odd];
    const expected = new client.Registry();
    for (const gauge of Object.keys(STATE_GAUGES) as StateGauge[]) {
      const g = new client.Gauge({
        name: gauge,
        help: STATE_GAUGES[gauge].help,
        labelNames: ['namespace', 'podgroup', ...STATE_GAUGES[gauge].labels],
        registers: [expected],
      });
      for (const sample of objects.flatMap((o) => podGroupSamples(o)).filter((s) => s.gauge === gauge)) {
        g.set(sample.labels, sample.value);
      }
    }
    const renderer = new PodGroupStateRenderer({ store: { list: () => objects }, isLeader: () => true });
    expect((await renderer.render()).join('')).toBe((await expected.metrics()).replace(/\n\n/g, '\n'));
  });

  it('renders a PodGroup again only when its cached object changed', async () => {
    const objects = new Map([
      ['ns/a', pg('a')],
      ['ns/b', pg('b')],
    ]);
    const rendered: string[] = [];
    const renderer = new PodGroupStateRenderer({ store: { list: () => [...objects.values()] }, isLeader: () => true }, (o) => {
      rendered.push(o.metadata?.name ?? '');
      return podGroupSamples(o);
    });
    await renderer.render();
    await renderer.render();
    expect(rendered).toEqual(['a', 'b']);
    // The informer replaces the cached object on every change.
    objects.set('ns/a', pg('a', { spec: spec({ replicas: 7 }) }));
    const text = (await renderer.render()).join('');
    expect(rendered).toEqual(['a', 'b', 'a']);
    expect(text).toContain('podgroup_spec_replicas{namespace="ns",podgroup="a"} 7\n');
  });

  it('yields to the event loop while rendering thousands of PodGroups', async () => {
    const objects = Array.from({ length: 2000 }, (_, i) => pg(`g${i}`));
    const renderer = new PodGroupStateRenderer({ store: { list: () => objects }, isLeader: () => true });
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 0);
    const rendering = renderer.render();
    let immediates = 0;
    const counting = (async () => {
      while (immediates < 1000) {
        immediates += 1;
        await new Promise((resolve) => setImmediate(resolve));
        if (await Promise.race([rendering.then(() => true), Promise.resolve(false)])) {
          break;
        }
      }
    })();
    const text = (await rendering).join('');
    await counting;
    clearInterval(ticker);
    expect(text.match(/^podgroup_spec_replicas\{/gm)).toHaveLength(2000);
    // Other work ran between the chunks: the render is not one synchronous block.
    expect(immediates).toBeGreaterThan(1);
  });
});

describe('registerPodGroupStateMetrics', () => {
  it('adds the gauges to the process scrape and removes them on unregister', async () => {
    const unregister = registerPodGroupStateMetrics({ store: { list: () => [pg('scraped')] }, isLeader: () => true });
    expect((await scrape()).parts.join('')).toContain('podgroup_spec_replicas{namespace="ns",podgroup="scraped"} 3\n');
    unregister();
    expect((await scrape()).parts.join('')).not.toContain('podgroup="scraped"');
  });
});
