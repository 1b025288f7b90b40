// Import rules `npm run lint` enforces on src/:
//  - no import cycles;
//  - the generic runtime (src/runtime) imports nothing of the project's edges or API;
//  - pure decision modules (listed below) import no client, server or runtime I/O;
//  - src/ never imports from hack/, test/ or bench/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function imports(file: string): { relative: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const rel: string[] = [];
  const pkgs: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2] ?? '';
    if (spec.startsWith('.')) {
      rel.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    } else {
      pkgs.push(spec);
    }
  }
  return { relative: rel, packages: pkgs };
}

/** Modules that decide (pure functions of their inputs): no I/O packages, no runtime I/O. */
const PURE = [/^src\/plugin\/(rollout|why|describe)\.ts$/, /^src\/podgroup\/(plan|rollout|ranking|revisions|rollback|slow-start|status|kstatus|expectations|state-metrics)\.ts$/, /^src\/injection\/(mutate|recipes|config)\.ts$/, /^src\/scheduling\/(gang|scoring|binding)\.ts$/];
const IO_PACKAGES = new Set(['node:http', 'node:https', 'node:net', 'node:fs', 'node:child_process', 'winston', 'prom-client']);

const problems: string[] = [];
const all = files(src);
const graph = new Map<string, string[]>();
for (const file of all) {
  const rel = relative(root, file);
  const { relative: deps, packages } = imports(file);
  graph.set(file, deps);
  for (const dep of deps) {
    const depRel = relative(root, dep);
    if (!depRel.startsWith('src/')) {
      problems.push(`${rel} imports ${depRel}: src/ must not import from outside src/`);
    }
    if (rel.startsWith('src/runtime/') && !depRel.startsWith('src/runtime/')) {
      problems.push(`${rel} imports ${depRel}: the runtime must stay generic`);
    }
    if (PURE.some((p) => p.test(rel)) && /^src\/runtime\/(kube-client|manager|informer|leader-election|events|controller)\.ts$/.test(depRel)) {
      problems.push(`${rel} imports ${depRel}: decision modules must stay pure`);
    }
  }
  if (PURE.some((p) => p.test(rel))) {
    for (const pkg of packages.filter((p) => IO_PACKAGES.has(p))) {
      problems.push(`${rel} imports ${pkg}: decision modules must stay pure`);
    }
  }
}

// Cycle detection: depth-first search with an explicit path.
const state = new Map<string, 'visiting' | 'done'>();
function visit(file: string, path: string[]): void {
  if (state.get(file) === 'done') {
    return;
  }
  if (state.get(file) === 'visiting') {
    const cycle = [...path.slice(path.indexOf(file)), file].map((f) => relative(root, f));
    problems.push(`import cycle: ${cycle.join(' → ')}`);
    return;
  }
  state.set(file, 'visiting');
  for (const dep of graph.get(file) ?? []) {
    if (graph.has(dep)) {
      visit(dep, [...path, file]);
    }
  }
  state.set(file, 'done');
}
for (const file of all) {
  visit(file, []);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exitCode = 1;
} else {
  console.log(`import rules hold for ${all.length} files in src/`);
}
