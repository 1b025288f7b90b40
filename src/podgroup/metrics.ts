// Doing: the per-PodGroup gauges (state-metrics.ts) exported at scrape time from the informer's
// cache, as kube-state-metrics reads objects — nothing is set during reconciles, every scrape
// starts from zero series (a deleted PodGroup leaves none behind), and only the leader exports
// them (a standby's cache is as warm, but two sources of one series would double every sum).
import client from 'prom-client';
import type { PodGroup } from '../api/podgroup.js';
import { registry } from '../runtime/metrics.js';
import type { Store } from '../runtime/store.js';
import { podGroupSamples, STATE_GAUGES, type StateGauge, type StateSample } from './state-metrics.js';

export interface StateMetricsSource {
  store: Pick<Store<PodGroup>, 'list'>;
  isLeader(): boolean;
}

/** Registers the gauges on `register` (the process registry by default); returns an unregister function. */
export function registerPodGroupStateMetrics(source: StateMetricsSource, register: client.Registry = registry): () => void {
  const samplesFor = (gauge: StateGauge): StateSample[] =>
    source.isLeader() ? source.store.list().flatMap((pg) => podGroupSamples(pg).filter((sample) => sample.gauge === gauge)) : [];
  const names = Object.keys(STATE_GAUGES) as StateGauge[];
  for (const name of names) {
    new client.Gauge({
      name,
      help: STATE_GAUGES[name].help,
      labelNames: ['namespace', 'podgroup', ...STATE_GAUGES[name].labels],
      registers: [register],
      collect() {
        this.reset();
        for (const sample of samplesFor(name)) {
          this.set(sample.labels, sample.value);
        }
      },
    });
  }
  return () => names.forEach((name) => register.removeSingleMetric(name));
}
