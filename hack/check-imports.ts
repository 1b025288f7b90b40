// Import rules `npm run lint` enforces:
//  - no import cycles among the files of src/, nor among those of hack/;
//  - no import cycle between hack/'s folders (hack/control-plane, hack/cluster, hack/real-node …;
//    the files directly in hack/ count as one more): each folder is a layer of its own;
//  - the generic runtime (src/runtime) imports nothing of the project's edges or API;
//  - pure decision modules (listed below) import no client, server or runtime I/O;
//  - src/ never imports from hack/, test/ or bench/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const hack = join(root, 'hack');

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
const PURE = [
  /^src\/plugin\/(kubectl-rollout|why|describe)\.ts$/,
  /^src\/podgroup\/(plan|rollout|ranking|revisions|rollback|slow-start|status|kstatus|expectations|assumed-sizes|written-status|state-gauges|pod-counts|pod-state)\.ts$/,
  /^src\/injection\/(mutate|recipes|config)\.ts$/,
  /^src\/scheduling\/(gang|scoring|binding)\.ts$/,
];
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

/** Every cycle of `graph` (one per back edge a depth-first search meets), as paths that end where they start. */
function cycles<T>(nodes: T[], graph: Map<T, T[]>): T[][] {
  const found: T[][] = [];
  const state = new Map<T, 'visiting' | 'done'>();
  const visit = (node: T, path: T[]): void => {
    if (state.get(node) === 'done') {
      return;
    }
    if (state.get(node) === 'visiting') {
      found.push([...path.slice(path.indexOf(node)), node]);
      return;
    }
    state.set(node, 'visiting');
    for (const dep of graph.get(node) ?? []) {
      if (graph.has(dep)) {
        visit(dep, [...path, node]);
      }
    }
    state.set(node, 'done');
  };
  for (const node of nodes) {
    visit(node, []);
  }
  return found;
}

for (const cycle of cycles(all, graph)) {
  problems.push(`import cycle: ${cycle.map((f) => relative(root, f)).join(' → ')}`);
}

// hack/: its files, and its folders as layers. A folder is hack/<name>; the files directly in
// hack/ are the folder "hack".
const hackFiles = files(hack);
const hackGraph = new Map(hackFiles.map((file) => [file, imports(file).relative]));
for (const cycle of cycles(hackFiles, hackGraph)) {
  problems.push(`import cycle: ${cycle.map((f) => relative(root, f)).join(' → ')}`);
}
const folderOf = (file: string): string => {
  const parts = relative(root, file).split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : 'hack';
};
/** For each pair of folders, the first import that ties them (to name it in the message). */
const folderEdges = new Map<string, Map<string, string>>();
for (const [file, deps] of hackGraph) {
  for (const dep of deps.filter((d) => hackGraph.has(d) && folderOf(d) !== folderOf(file))) {
    const edges = folderEdges.get(folderOf(file)) ?? new Map<string, string>();
    if (!edges.has(folderOf(dep))) {
      edges.set(folderOf(dep), `${relative(root, file)} imports ${relative(root, dep)}`);
    }
    folderEdges.set(folderOf(file), edges);
  }
}
const folders = [...new Set(hackFiles.map(folderOf))].sort();
const folderGraph = new Map(folders.map((f) => [f, [...(folderEdges.get(f)?.keys() ?? [])].sort()]));
for (const cycle of cycles(folders, folderGraph)) {
  const ties = cycle.slice(1).map((to, i) => folderEdges.get(cycle[i] ?? '')?.get(to) ?? '');
  problems.push(`import cycle between hack folders: ${cycle.join(' → ')} (${ties.join('; ')})`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exitCode = 1;
} else {
  console.log(`import rules hold for ${all.length} files in src/ and ${hackFiles.length} in ${folders.length} folders of hack/`);
}
