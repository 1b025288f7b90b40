// Doing: the per-PodGroup gauges (state-metrics.ts) exported at scrape time from the informer's
// cache, as kube-state-metrics reads objects — nothing is set during reconciles, a deleted PodGroup
// leaves no series behind, and only the leader exports them (a standby's cache is as warm, but two
// sources of one series would double every sum).
//
// Cost: a PodGroup's lines are rendered once per version of the object (the informer replaces the
// cached object on every change, so the object itself keys the rendering) and kept until it changes;
// a scrape concatenates them, yielding to the event loop between chunks of PodGroups so the
// webhook, the extender and the Lease renewal never wait behind a scrape of thousands.
import type { PodGroup } from '../api/podgroup.js';
import { addRenderedFamilies } from '../runtime/metrics.js';
import type { Store } from '../runtime/store.js';
import { podGroupSamples, STATE_GAUGES, type StateGauge, type StateSample } from './state-metrics.js';

export interface StateMetricsSource {
  store: Pick<Store<PodGroup>, 'list'>;
  isLeader(): boolean;
}

const GAUGES = Object.keys(STATE_GAUGES) as StateGauge[];
const GAUGE_INDEX = new Map(GAUGES.map((g, i) => [g, i]));
/** PodGroups rendered between two yields to the event loop. */
const CHUNK = 500;

const escapeLabel = (v: string): string => (/[\\\n"]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function sampleLine(sample: StateSample): string {
  const labels = Object.entries(sample.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  return `${sample.gauge}{${labels}} ${sample.value}\n`;
}

/** Renders the gauges of many PodGroups in the text exposition format, re-rendering only PodGroups that changed. */
export class PodGroupStateRenderer {
  /** Per cached PodGroup object: its lines of each gauge (index as in GAUGES). */
  private readonly rendered = new WeakMap<PodGroup, string[]>();

  constructor(
    private readonly source: StateMetricsSource,
    private readonly samples: (pg: PodGroup) => StateSample[] = podGroupSamples,
  ) {}

  async render(): Promise<string> {
    if (!this.source.isLeader()) {
      return '';
    }
    const podGroups = this.source.store.list();
    // Each gauge's lines, joined chunk by chunk: the one synchronous step left at the end joins a
    // few hundred flat strings.
    const perGauge: string[][] = GAUGES.map(() => []);
    for (let start = 0; start < podGroups.length; start += CHUNK) {
      if (start > 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const chunk: string[][] = GAUGES.map(() => []);
      for (const pg of podGroups.slice(start, start + CHUNK)) {
        this.linesOf(pg).forEach((lines, g) => lines !== '' && chunk[g]?.push(lines));
      }
      chunk.forEach((lines, g) => perGauge[g]?.push(lines.join('')));
    }
    return GAUGES.map((gauge, g) => `# HELP ${gauge} ${escapeHelp(STATE_GAUGES[gauge].help)}\n# TYPE ${gauge} gauge\n${perGauge[g]?.join('') ?? ''}`).join('');
  }

  private linesOf(pg: PodGroup): string[] {
    let lines = this.rendered.get(pg);
    if (lines === undefined) {
      lines = GAUGES.map(() => '');
      for (const sample of this.samples(pg)) {
        const g = GAUGE_INDEX.get(sample.gauge) ?? 0;
        lines[g] += sampleLine(sample);
      }
      this.rendered.set(pg, lines);
    }
    return lines;
  }
}

/** Exports the gauges with every scrape of the process's /metrics; returns an unregister function. */
export function registerPodGroupStateMetrics(source: StateMetricsSource): () => void {
  const renderer = new PodGroupStateRenderer(source);
  return addRenderedFamilies(() => renderer.render());
}
