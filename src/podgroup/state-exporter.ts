// Doing: the per-PodGroup gauges (state-gauges.ts) exported at scrape time from the informer's
// cache, as kube-state-metrics reads objects — nothing is set during reconciles, a deleted PodGroup
// leaves no series behind, and only the leader exports them (a standby's cache is as warm, but two
// sources of one series would double every sum).
//
// Cost: a PodGroup's lines are rendered once per version of the object (the informer replaces the
// cached object on every change, so the object itself keys the rendering) and kept until it changes;
// a scrape gathers them, yielding to the event loop every 10 ms so the
// webhook, the extender and the Lease renewal never wait behind a scrape of thousands.
import { withDefaults, type DefaultedPodGroup, type PodGroup } from '../api/podgroup.js';
import { addRenderedFamilies } from '../runtime/metrics.js';
import type { Store } from '../runtime/store.js';
import { podGroupSamples, STATE_GAUGES, type StateGauge, type StateSample } from './state-gauges.js';

export interface StateMetricsSource {
  store: Pick<Store<PodGroup>, 'list'>;
  isLeader(): boolean;
}

const GAUGES = Object.keys(STATE_GAUGES) as StateGauge[];
const GAUGE_INDEX = new Map(GAUGES.map((g, i) => [g, i]));
/** The longest a scrape renders before it yields to the event loop. */
const SLICE_MS = 10;
/** PodGroups per piece of the exposition: ~1 MiB of text at kube-state-metrics' shape. */
const PIECE_PODGROUPS = 500;

const escapeLabel = (v: string): string => (/[\\\n"]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function sampleLine(sample: StateSample): string {
  const labels = Object.entries(sample.labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  return `${sample.gauge}{${labels}} ${sample.value}\n`;
}

/** Renders the gauges of many PodGroups in the text exposition format, re-rendering only PodGroups that changed. */
export class PodGroupStateRenderer {
  /** Per cached PodGroup object: its lines of each gauge (index as in GAUGES). */
  private readonly rendered = new WeakMap<PodGroup, string[]>();

  constructor(
    private readonly source: StateMetricsSource,
    private readonly samples: (pg: DefaultedPodGroup) => StateSample[] = podGroupSamples,
  ) {}

  /** The exposition of every gauge, in pieces of at most one slice of PodGroups each. */
  async render(): Promise<string[]> {
    if (!this.source.isLeader()) {
      return [];
    }
    const podGroups = this.source.store.list();
    // Each gauge's lines, joined slice by slice: nothing at the end copies the whole text again.
    const perGauge: string[][] = GAUGES.map(() => []);
    let slice: string[][] = GAUGES.map(() => []);
    const flush = (): void => {
      slice.forEach((lines, g) => lines.length > 0 && perGauge[g]?.push(lines.join('')));
      slice = GAUGES.map(() => []);
    };
    let sliceStarted = performance.now();
    let inPiece = 0;
    for (const pg of podGroups) {
      this.linesOf(pg).forEach((lines, g) => lines !== '' && slice[g]?.push(lines));
      inPiece += 1;
      // Pieces of a bounded size (joining one is a copy the loop waits for), and a yield once a
      // slice's time is up (rendering changed PodGroups is what takes long).
      const yieldNow = performance.now() - sliceStarted > SLICE_MS;
      if (inPiece === PIECE_PODGROUPS || yieldNow) {
        flush();
        inPiece = 0;
      }
      if (yieldNow) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStarted = performance.now();
      }
    }
    flush();
    return GAUGES.flatMap((gauge, g) => [`# HELP ${gauge} ${escapeHelp(STATE_GAUGES[gauge].help)}\n# TYPE ${gauge} gauge\n`, ...(perGauge[g] ?? [])]);
  }

  private linesOf(pg: PodGroup): string[] {
    let lines = this.rendered.get(pg);
    if (lines === undefined) {
      const perGauge: string[][] = GAUGES.map(() => []);
      for (const sample of this.samples(withDefaults(pg))) {
        perGauge[GAUGE_INDEX.get(sample.gauge) ?? 0]?.push(sampleLine(sample));
      }
      // join() leaves flat strings; `+=` would leave ropes every scrape walks again.
      lines = perGauge.map((l) => l.join(''));
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
