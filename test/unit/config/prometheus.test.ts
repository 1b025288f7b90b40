// The alerts are tested with promtool (Debian's prometheus package ships it; .ci/run installs it),
// the PrometheusRule matches the plain rule file, and the dashboard only queries exported metrics.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule, RULES_FILE } from '../../../hack/prometheus/rule.js';
import { registry } from '../../../src/runtime/metrics.js';
import { STATE_GAUGES } from '../../../src/podgroup/state-gauges.js';

const RULES_DIR = join(REPO_ROOT, 'config', 'prometheus', 'rules');
const promtool = (args: string[]): string => execFileSync('promtool', args, { cwd: RULES_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('config/prometheus', () => {
  it('promtool check rules: the rule file is valid', () => {
    expect(promtool(['check', 'rules', 'podgroup-alerts.yaml'])).toContain('SUCCESS: 9 rules found');
  });

  it('promtool test rules: every alert fires when it should and not before', () => {
    expect(promtool(['test', 'rules', 'podgroup-alerts.test.yaml'])).toContain('SUCCESS');
    // Every alert of the rule file has at least one test that expects it to fire.
    const tests = readFileSync(join(RULES_DIR, 'podgroup-alerts.test.yaml'), 'utf8');
    for (const [, name] of readFileSync(RULES_FILE, 'utf8').matchAll(/- alert: (\w+)/g)) {
      expect(tests).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
    }
  });

  it("the PrometheusRule carries exactly the plain rule file's groups (npm run generate)", () => {
    expect(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')).toBe(renderPrometheusRule(readFileSync(RULES_FILE, 'utf8')));
  });

  it('rules and dashboard use only metrics the manager exports', async () => {
    const exported = new Set([...(await registry.getMetricsAsJSON()).map((m) => m.name), ...Object.keys(STATE_GAUGES), 'up']);
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'prometheus', 'dashboard.json'), 'utf8')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const exprs = [...dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr), readFileSync(RULES_FILE, 'utf8')];
    const KEYWORDS = new Set([
      'sum',
      'by',
      'rate',
      'max',
      'or',
      'vector',
      'histogram_quantile',
      'changes',
      'increase',
      'absent',
      'and',
      'le',
      'humanize',
      'humanizePercentage',
    ]);
    const checked = new Set<string>();
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b[a-z_]+(?=\{|\[|\s*[)/>!=-]|\s*$)/gm)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        if (/_total$|_seconds$|_replicas|_generation|_condition|_status|_paused|_available|_depth|^up$/.test(name) && !KEYWORDS.has(name)) {
          expect([name, exported.has(name) || exported.has(base)]).toEqual([name, true]);
          checked.add(name);
        }
      }
    }
    expect(checked.size).toBeGreaterThanOrEqual(15);
  });
});
