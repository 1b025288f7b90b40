// What to inject into a pod: parsed and validated from the pod's annotations, its namespace's
// opt-in label and its PodGroup's spec.sidecars. Pure. Every error names the annotation (or
// field) and the fix.
import type * as k8s from '@kubernetes/client-node';
import { REVISION_SIDECARS_ANNOTATION, type GitSyncSidecar, type LogCollectorSidecar, type Sidecars } from '../api/podgroup.js';

export const PREFIX = 'sidecars.podgroup.dev';
/** Namespace label: enabled → every pod gets the log collector (and git-sync if it names a repo). */
export const NAMESPACE_LABEL = `${PREFIX}/injection`;
/** Pod label that routes a pod to the webhook outside opted-in namespaces ("true"), or opts it out ("false"). */
export const POD_LABEL = `${PREFIX}/inject`;
/** Pod annotation: which sidecars ("log-collector", "git-sync", comma-separated) or "false" to opt out. */
export const INJECT_ANNOTATION = `${PREFIX}/inject`;
/** Pod annotation written by the webhook: what was injected (idempotency, missed-injection checks). */
export const STATUS_ANNOTATION = `${PREFIX}/status`;

export const ANNOTATIONS = {
  containers: `${PREFIX}/containers`,
  mode: `${PREFIX}/mode`,
  logPath: `${PREFIX}/log-path`,
  logFiles: `${PREFIX}/log-files`,
  logOutput: `${PREFIX}/log-output`,
  gitRepo: `${PREFIX}/git-repo`,
  gitRef: `${PREFIX}/git-ref`,
  gitPeriod: `${PREFIX}/git-period`,
  gitRoot: `${PREFIX}/git-root`,
  gitLink: `${PREFIX}/git-link`,
  gitMountPath: `${PREFIX}/git-mount-path`,
  gitSecret: `${PREFIX}/git-secret`,
  gitUsername: `${PREFIX}/git-username`,
  gitAllowPlainHttp: `${PREFIX}/git-allow-plain-http`,
} as const;

export const PROTECTED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];

export type SidecarKind = 'log-collector' | 'git-sync';
export type SidecarMode = 'native' | 'fallback';

export interface LogCollectorConfig {
  containers: string[] | undefined;
  path: string;
  files: string;
  output: { type: 'stdout' } | { type: 'forward'; host: string; port: number };
  image: string | undefined;
  resources: k8s.V1ResourceRequirements | undefined;
}

export interface GitSyncConfig {
  containers: string[] | undefined;
  repo: string;
  ref: string;
  period: string;
  root: string;
  link: string;
  mountPath: string;
  secret: string | undefined;
  /** Sent with the Secret's password file (HTTPS repositories). */
  username: string;
  allowPlainHttp: boolean;
  image: string | undefined;
  resources: k8s.V1ResourceRequirements | undefined;
}

export interface InjectionRequest {
  logCollector: LogCollectorConfig | undefined;
  gitSync: GitSyncConfig | undefined;
  /** undefined: the webhook's default (native when the cluster supports it). */
  mode: SidecarMode | undefined;
}

export class InjectionError extends Error {}

const REPO = /^(https?:\/\/|ssh:\/\/|git@|file:\/\/)\S+$/;
const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const ABSOLUTE = /^\/[^:]*$/;
const LINK = /^[A-Za-z0-9._-]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function check(ok: boolean, where: string, problem: string, fix: string): void {
  if (!ok) {
    throw new InjectionError(`${where}: ${problem}; ${fix}`);
  }
}

function names(value: string | undefined, where: string): string[] | undefined {
  if (value === undefined || value.trim() === '') {
    return undefined;
  }
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of list) {
    check(DNS_LABEL.test(n), where, `${JSON.stringify(n)} is not a container name`, 'list container names separated by commas, e.g. "app,worker"');
  }
  return list;
}

function parseOutput(value: string | undefined, where: string): LogCollectorConfig['output'] {
  if (value === undefined || value === 'stdout') {
    return { type: 'stdout' };
  }
  const m = /^forward:\/\/([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(value);
  check(m !== null, where, `${JSON.stringify(value)} is not an output`, 'use "stdout" or "forward://HOST[:PORT]"');
  const port = Number(m?.[2] ?? 24224);
  check(port > 0 && port < 65536, where, `port ${port} is out of range`, 'use a port between 1 and 65535');
  return { type: 'forward', host: m?.[1] ?? '', port };
}

function fromSpecLog(spec: LogCollectorSidecar): LogCollectorConfig {
  const output: LogCollectorConfig['output'] =
    spec.output?.type === 'forward' ? { type: 'forward', host: spec.output.host ?? '', port: spec.output.port ?? 24224 } : { type: 'stdout' };
  return {
    containers: spec.containers,
    path: spec.path ?? '/var/log/app',
    files: spec.files ?? '*.log',
    output,
    image: spec.image,
    resources: spec.resources,
  };
}

function fromSpecGit(spec: GitSyncSidecar): GitSyncConfig {
  return {
    containers: spec.containers,
    repo: spec.repo,
    ref: spec.ref ?? 'HEAD',
    period: spec.period ?? '10s',
    root: spec.root ?? '/git',
    link: spec.link ?? 'current',
    mountPath: spec.mountPath ?? '/git',
    secret: spec.credentialsSecretRef?.name,
    username: spec.username ?? 'git',
    allowPlainHttp: spec.allowPlainHTTP === true,
    image: spec.image,
    resources: spec.resources,
  };
}

export interface RequestInput {
  annotations: Record<string, string>;
  namespaceOptIn: boolean;
  /** The spec.sidecars of the PodGroup revision the pod was made from, if any (revisionSidecars). */
  podGroupSidecars: Sidecars | undefined;
}

/**
 * The sidecar settings of the revision a PodGroup's pod was made from, as the controller stamped
 * them on the pod (so an old revision's replacement keeps its settings and a rollback restores them).
 */
export function revisionSidecars(annotations: Record<string, string>): Sidecars | undefined {
  const raw = annotations[REVISION_SIDECARS_ANNOTATION];
  if (raw === undefined) {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InjectionError(`${REVISION_SIDECARS_ANNOTATION}: not JSON; it is written by the PodGroup controller, remove it`);
  }
  const problem = sidecarsShapeError(parsed);
  check(problem === undefined, REVISION_SIDECARS_ANNOTATION, problem ?? '', 'it is written by the PodGroup controller from spec.sidecars, remove it');
  return parsed as Sidecars;
}

type Shape = 'string' | 'boolean' | 'port' | 'strings' | 'resources' | ((value: unknown, where: string) => string | undefined);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where `value` does not have `fields` (every key known, every value of its shape), or undefined. */
function objectShapeError(value: unknown, where: string, fields: Record<string, Shape>, required: string[] = []): string | undefined {
  if (!isRecord(value)) {
    return `${where} must be an object`;
  }
  for (const key of required) {
    if (value[key] === undefined) {
      return `${where}.${key} is required`;
    }
  }
  for (const [key, v] of Object.entries(value)) {
    const shape = fields[key];
    const at = `${where}.${key}`;
    if (shape === undefined) {
      return `${at} is not a field of spec.sidecars`;
    }
    const error =
      typeof shape === 'function'
        ? shape(v, at)
        : shape === 'string'
          ? typeof v === 'string'
            ? undefined
            : `${at} must be a string`
          : shape === 'boolean'
            ? typeof v === 'boolean'
              ? undefined
              : `${at} must be true or false`
            : shape === 'port'
              ? Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536
                ? undefined
                : `${at} must be a port number`
              : shape === 'strings'
                ? Array.isArray(v) && v.every((s) => typeof s === 'string')
                  ? undefined
                  : `${at} must be a list of strings`
                : resourcesShapeError(v, at);
    if (error !== undefined) {
      return error;
    }
  }
  return undefined;
}

function resourcesShapeError(value: unknown, where: string): string | undefined {
  const quantities = (v: unknown, at: string): string | undefined =>
    isRecord(v) && Object.values(v).every((q) => typeof q === 'string' || typeof q === 'number') ? undefined : `${at} must map resource names to quantities`;
  return objectShapeError(value, where, { requests: quantities, limits: quantities });
}

const oneOf =
  (...allowed: string[]) =>
  (v: unknown, at: string): string | undefined =>
    allowed.includes(v as string) ? undefined : `${at} must be one of ${allowed.join(', ')}`;

/**
 * The annotation is written by the controller from the CRD-validated spec.sidecars, but a pod's
 * creator can write it too: its shape is checked field by field before it is used (the values
 * themselves go through the same checks as the annotations').
 */
export function sidecarsShapeError(value: unknown): string | undefined {
  return objectShapeError(value, 'sidecars', {
    logCollector: (v, at) =>
      objectShapeError(v, at, {
        enabled: 'boolean',
        containers: 'strings',
        path: 'string',
        files: 'string',
        output: (o, oat) => objectShapeError(o, oat, { type: oneOf('stdout', 'forward'), host: 'string', port: 'port' }),
        image: 'string',
        resources: 'resources',
      }),
    gitSync: (v, at) =>
      objectShapeError(
        v,
        at,
        {
          repo: 'string',
          ref: 'string',
          period: 'string',
          root: 'string',
          link: 'string',
          mountPath: 'string',
          containers: 'strings',
          credentialsSecretRef: (c, cat) => objectShapeError(c, cat, { name: 'string' }, ['name']),
          username: 'string',
          allowPlainHTTP: 'boolean',
          mode: oneOf('native', 'fallback'),
          image: 'string',
          resources: 'resources',
        },
        ['repo'],
      ),
  });
}

/**
 * Why `repo` must not be used, or undefined. Credentials never travel in the URL (they would be
 * stored in the pod spec, readable by everyone who can get pods, and logged by git-sync), and
 * plain http:// is refused unless the user opted in, since a man in the middle can change the code.
 */
export function repositoryError(repo: string, allowPlainHttp: boolean, secret: string | undefined): string | undefined {
  const scheme = /^([a-z]+):\/\//i.exec(repo)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https' || scheme === 'ssh') {
    let url: URL;
    try {
      url = new URL(repo);
    } catch {
      return `${JSON.stringify(repo)} is not a repository URL; use an https://, ssh:// or git@host:path URL`;
    }
    if (url.password !== '' || ((scheme === 'http' || scheme === 'https') && url.username !== '')) {
      return `the URL carries credentials (user:token@): they would be readable by anyone who can read the pod; put them in a Secret named by ${ANNOTATIONS.gitSecret} (key password) and remove them from the URL`;
    }
  }
  if (scheme === 'http') {
    if (secret !== undefined) {
      return `${JSON.stringify(repo)} would send the credentials of ${ANNOTATIONS.gitSecret} in clear text; use an https:// URL with credentials`;
    }
    if (!allowPlainHttp) {
      return `${JSON.stringify(repo)} is plain http: anyone on the way can change the code the pod runs; use https://, or set ${ANNOTATIONS.gitAllowPlainHttp}: "true" (spec.sidecars.gitSync.allowPlainHTTP) to accept that`;
    }
  }
  return undefined;
}

/**
 * What the pod asks for, or undefined when nothing is to be injected. Annotations override the
 * PodGroup's spec.sidecars field by field; an opt-out annotation wins over everything.
 */
export function resolveRequest(input: RequestInput): InjectionRequest | undefined {
  const a = input.annotations;
  const inject = a[INJECT_ANNOTATION]?.trim();
  if (inject === 'false') {
    return undefined;
  }
  const kinds = new Set<SidecarKind>();
  if (inject !== undefined && inject !== '' && inject !== 'true') {
    for (const k of inject.split(',').map((s) => s.trim())) {
      check(
        k === 'log-collector' || k === 'git-sync',
        INJECT_ANNOTATION,
        `unknown sidecar ${JSON.stringify(k)}`,
        'use "log-collector", "git-sync", both separated by a comma, or "false"',
      );
      kinds.add(k as SidecarKind);
    }
  } else {
    const sc = input.podGroupSidecars;
    if (sc?.logCollector !== undefined && sc.logCollector.enabled !== false) {
      kinds.add('log-collector');
    }
    if (sc?.gitSync !== undefined) {
      kinds.add('git-sync');
    }
    if (input.namespaceOptIn || inject === 'true') {
      kinds.add('log-collector');
      if (a[ANNOTATIONS.gitRepo] !== undefined) {
        kinds.add('git-sync');
      }
    }
  }
  if (kinds.size === 0) {
    return undefined;
  }
  const containers = names(a[ANNOTATIONS.containers], ANNOTATIONS.containers);
  const mode = a[ANNOTATIONS.mode];
  check(
    mode === undefined || mode === 'native' || mode === 'fallback',
    ANNOTATIONS.mode,
    `${JSON.stringify(mode)} is not a mode`,
    'use "native" or "fallback"',
  );

  let logCollector: LogCollectorConfig | undefined;
  if (kinds.has('log-collector')) {
    const base = fromSpecLog(input.podGroupSidecars?.logCollector ?? {});
    logCollector = {
      ...base,
      containers: containers ?? base.containers,
      path: a[ANNOTATIONS.logPath] ?? base.path,
      files: a[ANNOTATIONS.logFiles] ?? base.files,
      output: a[ANNOTATIONS.logOutput] === undefined ? base.output : parseOutput(a[ANNOTATIONS.logOutput], ANNOTATIONS.logOutput),
    };
    check(
      ABSOLUTE.test(logCollector.path),
      ANNOTATIONS.logPath,
      `${JSON.stringify(logCollector.path)} is not an absolute path`,
      'use a path such as /var/log/app',
    );
    check(
      !/[/\s]/.test(logCollector.files) && logCollector.files !== '',
      ANNOTATIONS.logFiles,
      `${JSON.stringify(logCollector.files)} is not a file glob`,
      'use a glob such as *.log',
    );
  }

  let gitSync: GitSyncConfig | undefined;
  if (kinds.has('git-sync')) {
    const fromSpec = input.podGroupSidecars?.gitSync;
    const repo = a[ANNOTATIONS.gitRepo] ?? fromSpec?.repo;
    check(repo !== undefined, ANNOTATIONS.gitRepo, 'git-sync needs a repository', `set ${ANNOTATIONS.gitRepo} to an https://, ssh:// or git@ URL`);
    const base = fromSpecGit({ ...fromSpec, repo: repo ?? '' });
    gitSync = {
      ...base,
      containers: containers ?? base.containers,
      ref: a[ANNOTATIONS.gitRef] ?? base.ref,
      period: a[ANNOTATIONS.gitPeriod] ?? base.period,
      root: a[ANNOTATIONS.gitRoot] ?? base.root,
      link: a[ANNOTATIONS.gitLink] ?? base.link,
      mountPath: a[ANNOTATIONS.gitMountPath] ?? base.mountPath,
      secret: a[ANNOTATIONS.gitSecret] ?? base.secret,
      username: a[ANNOTATIONS.gitUsername] ?? base.username,
      allowPlainHttp: a[ANNOTATIONS.gitAllowPlainHttp] === undefined ? base.allowPlainHttp : a[ANNOTATIONS.gitAllowPlainHttp] === 'true',
    };
    const allow = a[ANNOTATIONS.gitAllowPlainHttp];
    check(
      allow === undefined || allow === 'true' || allow === 'false',
      ANNOTATIONS.gitAllowPlainHttp,
      `${JSON.stringify(allow)} is not a boolean`,
      'use "true" or "false"',
    );
    check(
      REPO.test(gitSync.repo),
      ANNOTATIONS.gitRepo,
      `${JSON.stringify(gitSync.repo)} is not a repository URL`,
      'use an https://, ssh:// or git@host:path URL',
    );
    check(DURATION.test(gitSync.period), ANNOTATIONS.gitPeriod, `${JSON.stringify(gitSync.period)} is not a duration`, 'use a Go duration such as 10s or 1m');
    check(
      gitSync.ref.trim() !== '' && !/\s/.test(gitSync.ref),
      ANNOTATIONS.gitRef,
      `${JSON.stringify(gitSync.ref)} is not a ref`,
      'use a branch, tag or commit, e.g. main',
    );
    check(ABSOLUTE.test(gitSync.root), ANNOTATIONS.gitRoot, `${JSON.stringify(gitSync.root)} is not an absolute path`, 'use a path such as /git');
    check(gitSync.root.replace(/\/+$/, '') !== '/tmp', ANNOTATIONS.gitRoot, "/tmp is git-sync's scratch space", 'use another path such as /git');
    check(
      ABSOLUTE.test(gitSync.mountPath),
      ANNOTATIONS.gitMountPath,
      `${JSON.stringify(gitSync.mountPath)} is not an absolute path`,
      'use a path such as /git',
    );
    check(LINK.test(gitSync.link), ANNOTATIONS.gitLink, `${JSON.stringify(gitSync.link)} is not a link name`, 'use a plain name such as current');
    check(
      gitSync.secret === undefined || DNS_LABEL.test(gitSync.secret) || /^[a-z0-9.-]+$/.test(gitSync.secret),
      ANNOTATIONS.gitSecret,
      `${JSON.stringify(gitSync.secret)} is not a Secret name`,
      "name a Secret in the pod's namespace",
    );
    check(
      gitSync.username.trim() !== '' && !/[\s:]/.test(gitSync.username),
      ANNOTATIONS.gitUsername,
      `${JSON.stringify(gitSync.username)} is not a user name`,
      'use a name without spaces or colons, e.g. git',
    );
    const repoProblem = repositoryError(gitSync.repo, gitSync.allowPlainHttp, gitSync.secret);
    if (repoProblem !== undefined) {
      throw new InjectionError(`${ANNOTATIONS.gitRepo}: ${repoProblem}`);
    }
  }
  return { logCollector, gitSync, mode: (mode as SidecarMode | undefined) ?? input.podGroupSidecars?.gitSync?.mode };
}
