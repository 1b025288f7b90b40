// A pod template as `kubectl describe` prints one (`kubectl rollout history --revision N` shows
// this), plus the sidecars the webhook would inject for it. Pure.
import type * as k8s from '@kubernetes/client-node';
import type { Sidecars } from '../api/podgroup.js';
import { resolveRequest } from '../injection/config.js';

function map(title: string, values: Record<string, string> | undefined, indent: string, sep: string): string[] {
  const entries = Object.entries(values ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) {
    return [`${indent}${title}:\t<none>`];
  }
  return entries.map(([k, v], i) => `${i === 0 ? `${indent}${title}:\t` : `${indent}\t`}${k}${sep}${v}`);
}

function container(c: k8s.V1Container, indent: string): string[] {
  const lines = [`${indent}${c.name}:`, `${indent} Image:\t${c.image ?? ''}`];
  const ports = c.ports ?? [];
  lines.push(`${indent} Port:\t${ports.length === 0 ? '<none>' : ports.map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', ')}`);
  if (c.restartPolicy !== undefined) {
    lines.push(`${indent} Restart Policy:\t${c.restartPolicy}`);
  }
  if (c.command !== undefined) {
    lines.push(`${indent} Command:`, ...c.command.map((a) => `${indent}   ${a}`));
  }
  if (c.args !== undefined) {
    lines.push(`${indent} Args:`, ...c.args.map((a) => `${indent}   ${a}`));
  }
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  if (Object.keys(limits).length > 0) {
    lines.push(`${indent} Limits:`, ...Object.entries(limits).map(([k, v]) => `${indent}   ${k}:\t${String(v)}`));
  }
  if (Object.keys(requests).length > 0) {
    lines.push(`${indent} Requests:`, ...Object.entries(requests).map(([k, v]) => `${indent}   ${k}:\t${String(v)}`));
  }
  const env = c.env ?? [];
  lines.push(env.length === 0 ? `${indent} Environment:\t<none>` : `${indent} Environment:`);
  for (const e of env) {
    lines.push(`${indent}   ${e.name}:\t${e.value ?? (e.valueFrom === undefined ? '' : '<set from a reference>')}`);
  }
  const mounts = c.volumeMounts ?? [];
  lines.push(mounts.length === 0 ? `${indent} Mounts:\t<none>` : `${indent} Mounts:`);
  for (const m of mounts) {
    lines.push(`${indent}   ${m.mountPath} from ${m.name} (${m.readOnly === true ? 'ro' : 'rw'})`);
  }
  return lines;
}

/** The sidecars the webhook injects into pods of this template (spec.sidecars + template annotations). */
export function sidecarLines(template: k8s.V1PodTemplateSpec, sidecars: Sidecars | undefined): string[] {
  let request;
  try {
    request = resolveRequest({ annotations: template.metadata?.annotations ?? {}, namespaceOptIn: false, podGroupSidecars: sidecars });
  } catch (err) {
    return [`  Sidecars:\t<invalid: ${err instanceof Error ? err.message : String(err)}>`];
  }
  if (request === undefined) {
    return ['  Sidecars:\t<none> (unless the namespace opts in)'];
  }
  const lines = ['  Sidecars:'];
  if (request.logCollector !== undefined) {
    const lc = request.logCollector;
    lines.push(`   log-collector:\t${lc.path}/${lc.files} -> ${lc.output.type}${lc.output.type === 'forward' ? ` ${lc.output.host}:${lc.output.port}` : ''}`);
  }
  if (request.gitSync !== undefined) {
    const gs = request.gitSync;
    lines.push(`   git-sync:\t${gs.repo}@${gs.ref} every ${gs.period} at ${gs.mountPath}`);
  }
  if (request.mode !== undefined) {
    lines.push(`   mode:\t${request.mode}`);
  }
  return lines;
}

/** "Pod Template:" and its fields, tab-separated like kubectl's describe prefix writer. */
export function describeTemplate(template: k8s.V1PodTemplateSpec, sidecars: Sidecars | undefined): string {
  const spec = template.spec;
  const lines = ['Pod Template:', ...map('Labels', template.metadata?.labels, '  ', '='), ...map('Annotations', template.metadata?.annotations, '  ', ': ')];
  if (spec?.serviceAccountName !== undefined) {
    lines.push(`  Service Account:\t${spec.serviceAccountName}`);
  }
  if ((spec?.initContainers ?? []).length > 0) {
    lines.push('  Init Containers:', ...(spec?.initContainers ?? []).flatMap((c) => container(c, '   ')));
  }
  lines.push('  Containers:', ...(spec?.containers ?? []).flatMap((c) => container(c, '   ')));
  const volumes = spec?.volumes ?? [];
  lines.push(volumes.length === 0 ? '  Volumes:\t<none>' : `  Volumes:\t${volumes.map((v) => v.name).join(', ')}`);
  lines.push(...map('Node-Selectors', spec?.nodeSelector, '  ', '='));
  lines.push(
    `  Tolerations:\t${(spec?.tolerations ?? []).length === 0 ? '<none>' : (spec?.tolerations ?? []).map((t) => `${t.key ?? ''}${t.value === undefined ? '' : `=${t.value}`}:${t.effect ?? ''}`).join(', ')}`,
  );
  lines.push(...sidecarLines(template, sidecars));
  return `${lines.join('\n')}\n`;
}
