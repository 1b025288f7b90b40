// Deciding: pod + injection request → the mutated pod (and the JSON Patch between them). Pure.
// Never a partial injection: every check runs before anything is changed, and a failed check
// throws an InjectionError naming the annotation and the fix.
import type * as k8s from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import {
  ANNOTATIONS,
  InjectionError,
  STATUS_ANNOTATION,
  type GitSyncConfig,
  type InjectionRequest,
  type LogCollectorConfig,
  type SidecarKind,
  type SidecarMode,
} from './config.js';

export interface InjectorSettings {
  logCollectorImage: string;
  gitSyncImage: string;
  /** The cluster runs native sidecars (Kubernetes ≥ 1.29). */
  nativeSidecars: boolean;
}

export const DEFAULT_LOG_COLLECTOR_IMAGE = 'cr.fluentbit.io/fluent/fluent-bit:4.0.3';
export const DEFAULT_GIT_SYNC_IMAGE = 'registry.k8s.io/git-sync/git-sync:v4.4.2';

export const LOG_COLLECTOR = 'log-collector';
export const GIT_SYNC = 'git-sync';
export const GIT_SYNC_INIT = 'git-sync-init';
export const LOG_VOLUME = 'podgroup-logs';
export const CODE_VOLUME = 'podgroup-code';
export const GIT_SECRET_VOLUME = 'podgroup-git-secret';
/**
 * git-sync's scratch space at /tmp (its HOME and TMPDIR): with a read-only root it must create
 * its private gitconfig somewhere writable, or it exits with "can't create gitconfig file".
 */
export const GIT_TMP_VOLUME = 'podgroup-git-tmp';
export const GIT_SYNC_HTTP_PORT = 8742;
/** git-sync's image runs as this user; the pod's fsGroup lets the app read what it writes. */
export const GIT_SYNC_UID = 65533;
/**
 * The log collector runs as distroless's `nonroot` user (Fluent Bit's image is distroless and
 * runs as root by default); it only reads the app's files, which the app's umask or the pod's
 * fsGroup make readable, and writes nothing but its output.
 */
export const LOG_COLLECTOR_UID = 65532;

export interface InjectionStatus {
  injected: SidecarKind[];
  mode: SidecarMode;
}

export interface MutationResult {
  pod: k8s.V1Pod;
  injected: SidecarKind[];
  mode: SidecarMode;
  patch: fastJsonPatch.Operation[];
}

const DEFAULT_RESOURCES: k8s.V1ResourceRequirements = {
  requests: { cpu: '10m', memory: '32Mi' },
  limits: { memory: '128Mi' },
};

function resources(override: k8s.V1ResourceRequirements | undefined): k8s.V1ResourceRequirements {
  return {
    requests: { ...DEFAULT_RESOURCES.requests, ...override?.requests },
    limits: { ...DEFAULT_RESOURCES.limits, ...override?.limits },
  };
}

/** Every injected container passes the `restricted` Pod Security level on its own. */
function sidecarSecurity(uid: number): k8s.V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function readStatus(pod: k8s.V1Pod): InjectionStatus | undefined {
  const raw = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) {
    return undefined;
  }
  try {
    const parsed = JSON.parse(raw) as InjectionStatus;
    return Array.isArray(parsed.injected) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where `value` is not a list of objects, or undefined when it is (or is absent). */
function listOfObjectsError(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!Array.isArray(value)) {
    return `${where} must be a list`;
  }
  const bad = value.findIndex((item) => !isObject(item));
  return bad < 0 ? undefined : `${where}[${bad}] must be an object`;
}

/**
 * The review's object is untyped JSON: the fields mutate reads must have a Pod's shape, or the
 * request is refused with this message (the API server never sends such a Pod; a fuzzer does).
 */
export function podShapeError(pod: unknown): string | undefined {
  if (!isObject(pod)) {
    return 'must be an object';
  }
  const { metadata, spec } = pod;
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) {
      return 'metadata must be an object';
    }
    const { annotations } = metadata;
    if (annotations !== undefined && annotations !== null && (!isObject(annotations) || Object.values(annotations).some((v) => typeof v !== 'string'))) {
      return 'metadata.annotations must map strings to strings';
    }
    const error = listOfObjectsError(metadata.ownerReferences, 'metadata.ownerReferences');
    if (error !== undefined) {
      return error;
    }
  }
  if (spec === undefined || spec === null) {
    return undefined;
  }
  if (!isObject(spec)) {
    return 'spec must be an object';
  }
  if (spec.securityContext !== undefined && spec.securityContext !== null && !isObject(spec.securityContext)) {
    return 'spec.securityContext must be an object';
  }
  if (!Array.isArray(spec.containers)) {
    return 'spec.containers must be a list';
  }
  for (const list of ['containers', 'initContainers', 'volumes'] as const) {
    const error = listOfObjectsError(spec[list], `spec.${list}`);
    if (error !== undefined) {
      return error;
    }
  }
  for (const list of ['containers', 'initContainers'] as const) {
    for (const [i, c] of ((spec[list] ?? []) as Array<Record<string, unknown>>).entries()) {
      if (typeof c.name !== 'string') {
        return `spec.${list}[${i}].name must be a string`;
      }
      const error = listOfObjectsError(c.volumeMounts, `spec.${list}[${i}].volumeMounts`) ?? listOfObjectsError(c.ports, `spec.${list}[${i}].ports`);
      if (error !== undefined) {
        return error;
      }
      const mounts = (c.volumeMounts ?? []) as Array<Record<string, unknown>>;
      const badMount = mounts.findIndex((m) => typeof m.mountPath !== 'string');
      if (badMount >= 0) {
        return `spec.${list}[${i}].volumeMounts[${badMount}].mountPath must be a string`;
      }
    }
  }
  return undefined;
}

function allContainerNames(pod: k8s.V1Pod): Set<string> {
  return new Set([...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name));
}

function targets(pod: k8s.V1Pod, wanted: string[] | undefined, where: string): k8s.V1Container[] {
  const containers = pod.spec?.containers ?? [];
  if (wanted === undefined) {
    return containers;
  }
  const byName = new Map(containers.map((c) => [c.name, c]));
  return wanted.map((name) => {
    const c = byName.get(name);
    if (c === undefined) {
      throw new InjectionError(`${where}: the pod has no container ${JSON.stringify(name)}; name one of: ${[...byName.keys()].join(', ')}`);
    }
    return c;
  });
}

function assertFreeVolume(pod: k8s.V1Pod, name: string, where: string): void {
  if ((pod.spec?.volumes ?? []).some((v) => v.name === name)) {
    throw new InjectionError(`${where}: the pod already has a volume named ${name}, which the injected sidecar needs; rename that volume`);
  }
}

function assertFreeMount(containers: k8s.V1Container[], path: string, where: string): void {
  for (const c of containers) {
    const clash = (c.volumeMounts ?? []).find(
      (m) => m.mountPath === path || m.mountPath.startsWith(`${path}/`) || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`),
    );
    if (clash !== undefined) {
      throw new InjectionError(`${where}: ${path} clashes with the mount ${clash.mountPath} in container ${c.name}; choose another path`);
    }
  }
}

function logCollectorContainer(cfg: LogCollectorConfig, image: string, native: boolean): k8s.V1Container {
  const args = ['-i', 'tail', '-p', `path=${cfg.path}/${cfg.files}`, '-p', 'read_from_head=on', '-p', 'refresh_interval=5', '-p', 'path_key=file'];
  if (cfg.output.type === 'forward') {
    args.push('-o', 'forward', '-p', `host=${cfg.output.host}`, '-p', `port=${cfg.output.port}`);
  } else {
    args.push('-o', 'stdout', '-p', 'format=json_lines');
  }
  args.push('-f', '1');
  return {
    name: LOG_COLLECTOR,
    image: cfg.image ?? image,
    args,
    ...(native ? { restartPolicy: 'Always' } : {}),
    resources: resources(cfg.resources),
    securityContext: sidecarSecurity(LOG_COLLECTOR_UID),
    volumeMounts: [{ name: LOG_VOLUME, mountPath: cfg.path, readOnly: true }],
  };
}

const isSsh = (repo: string): boolean => /^(ssh:\/\/|git@)/.test(repo);

function gitSyncArgs(cfg: GitSyncConfig): string[] {
  const args = [`--repo=${cfg.repo}`, `--ref=${cfg.ref}`, `--period=${cfg.period}`, `--root=${cfg.root}`, `--link=${cfg.link}`, '--group-write'];
  if (cfg.secret !== undefined) {
    if (isSsh(cfg.repo)) {
      args.push('--ssh-key-file=/etc/git-secret/ssh', '--ssh-known-hosts=true', '--ssh-known-hosts-file=/etc/git-secret/known_hosts');
    } else {
      // A file, never an environment variable: env vars leak into crash dumps, `kubectl describe`
      // of a failed start and child processes, and policies such as Kyverno's
      // disallow-secrets-from-env-vars refuse them. git-sync re-reads the file before each fetch,
      // so a rotated password is picked up without a restart.
      args.push(`--username=${cfg.username}`, '--password-file=/etc/git-secret/password');
    }
  }
  return args;
}

function gitSyncContainer(cfg: GitSyncConfig, image: string, name: string, extra: Partial<k8s.V1Container>, oneTime: boolean): k8s.V1Container {
  const mounts: k8s.V1VolumeMount[] = [
    { name: CODE_VOLUME, mountPath: cfg.root },
    { name: GIT_TMP_VOLUME, mountPath: '/tmp' },
  ];
  // Set here rather than trusted from the image: a custom image must also keep its scratch on the volume.
  const env: k8s.V1EnvVar[] = [
    { name: 'HOME', value: '/tmp' },
    { name: 'TMPDIR', value: '/tmp' },
  ];
  if (cfg.secret !== undefined) {
    mounts.push({ name: GIT_SECRET_VOLUME, mountPath: '/etc/git-secret', readOnly: true });
  }
  return {
    name,
    image: cfg.image ?? image,
    args: [...gitSyncArgs(cfg), ...(oneTime ? ['--one-time'] : [`--http-bind=:${GIT_SYNC_HTTP_PORT}`])],
    env,
    resources: resources(cfg.resources),
    securityContext: sidecarSecurity(GIT_SYNC_UID),
    volumeMounts: mounts,
    ...extra,
  };
}

/** Injects what `request` asks for into a copy of `pod`; kinds already injected are skipped. */
export function mutate(pod: k8s.V1Pod, request: InjectionRequest, settings: InjectorSettings): MutationResult {
  const previous = readStatus(pod);
  const present = allContainerNames(pod);
  const already = new Set<SidecarKind>(previous?.injected ?? []);
  if (present.has(LOG_COLLECTOR)) {
    already.add('log-collector');
  }
  if (present.has(GIT_SYNC) || present.has(GIT_SYNC_INIT)) {
    already.add('git-sync');
  }
  const mode: SidecarMode = request.mode ?? previous?.mode ?? (settings.nativeSidecars ? 'native' : 'fallback');
  if (mode === 'native' && !settings.nativeSidecars) {
    throw new InjectionError(`${ANNOTATIONS.mode}: this cluster does not support native sidecars (Kubernetes < 1.29); use "fallback"`);
  }
  const wantLog = request.logCollector !== undefined && !already.has('log-collector') ? request.logCollector : undefined;
  const wantGit = request.gitSync !== undefined && !already.has('git-sync') ? request.gitSync : undefined;
  const out: k8s.V1Pod = structuredClone(pod);
  out.spec ??= { containers: [] };
  const spec = out.spec;

  // Check everything first: never a partial injection.
  const logTargets = wantLog === undefined ? [] : targets(out, wantLog.containers, ANNOTATIONS.containers);
  const gitTargets = wantGit === undefined ? [] : targets(out, wantGit.containers, ANNOTATIONS.containers);
  if (wantLog !== undefined) {
    assertFreeVolume(out, LOG_VOLUME, ANNOTATIONS.logPath);
    assertFreeMount(logTargets, wantLog.path, ANNOTATIONS.logPath);
  }
  if (wantGit !== undefined) {
    assertFreeVolume(out, CODE_VOLUME, ANNOTATIONS.gitMountPath);
    assertFreeVolume(out, GIT_TMP_VOLUME, ANNOTATIONS.gitRepo);
    assertFreeMount(gitTargets, wantGit.mountPath, ANNOTATIONS.gitMountPath);
    if (wantGit.secret !== undefined) {
      assertFreeVolume(out, GIT_SECRET_VOLUME, ANNOTATIONS.gitSecret);
    }
    const portInUse = spec.containers.some((c) => (c.ports ?? []).some((p) => p.containerPort === GIT_SYNC_HTTP_PORT));
    if (portInUse && mode === 'native') {
      throw new InjectionError(
        `${ANNOTATIONS.mode}: port ${GIT_SYNC_HTTP_PORT} (git-sync's readiness endpoint) is used by an app container; use "fallback" or free the port`,
      );
    }
    if (wantLog !== undefined && wantLog.path === wantGit.mountPath) {
      throw new InjectionError(`${ANNOTATIONS.gitMountPath}: ${wantGit.mountPath} is also the log path; give the code and the logs different paths`);
    }
  }

  const sidecarInits: k8s.V1Container[] = [];
  const regular: k8s.V1Container[] = [];
  if (wantGit !== undefined) {
    spec.volumes = [...(spec.volumes ?? []), { name: CODE_VOLUME, emptyDir: {} }, { name: GIT_TMP_VOLUME, emptyDir: {} }];
    if (wantGit.secret !== undefined) {
      spec.volumes.push({ name: GIT_SECRET_VOLUME, secret: { secretName: wantGit.secret, defaultMode: 0o440 } });
    }
    for (const c of gitTargets) {
      c.volumeMounts = [...(c.volumeMounts ?? []), { name: CODE_VOLUME, mountPath: wantGit.mountPath, readOnly: true }];
    }
    if (mode === 'native') {
      // Containers start only after this sidecar's startup probe passes: after the first sync.
      sidecarInits.push(
        gitSyncContainer(
          wantGit,
          settings.gitSyncImage,
          GIT_SYNC,
          {
            restartPolicy: 'Always',
            startupProbe: { httpGet: { path: '/', port: GIT_SYNC_HTTP_PORT }, periodSeconds: 2, failureThreshold: 150 },
          },
          false,
        ),
      );
    } else {
      sidecarInits.push(gitSyncContainer(wantGit, settings.gitSyncImage, GIT_SYNC_INIT, {}, true));
      regular.push(gitSyncContainer(wantGit, settings.gitSyncImage, GIT_SYNC, {}, false));
    }
    // OnRootMismatch: the kubelet re-chowns a volume only when its root is not already right,
    // instead of walking every file at each start (slow on large volumes).
    spec.securityContext = {
      ...spec.securityContext,
      fsGroup: spec.securityContext?.fsGroup ?? GIT_SYNC_UID,
      fsGroupChangePolicy: spec.securityContext?.fsGroupChangePolicy ?? 'OnRootMismatch',
    };
  }
  if (wantLog !== undefined) {
    spec.volumes = [...(spec.volumes ?? []), { name: LOG_VOLUME, emptyDir: {} }];
    for (const c of logTargets) {
      c.volumeMounts = [...(c.volumeMounts ?? []), { name: LOG_VOLUME, mountPath: wantLog.path }];
    }
    const container = logCollectorContainer(wantLog, settings.logCollectorImage, mode === 'native');
    (mode === 'native' ? sidecarInits : regular).push(container);
  }
  if (sidecarInits.length > 0) {
    spec.initContainers = [...sidecarInits, ...(spec.initContainers ?? [])];
  }
  if (regular.length > 0) {
    spec.containers = [...spec.containers, ...regular];
  }

  const injected = [...already, ...(wantGit ? (['git-sync'] as const) : []), ...(wantLog ? (['log-collector'] as const) : [])];
  const unique = [...new Set(injected)].sort() as SidecarKind[];
  if (wantGit !== undefined || wantLog !== undefined || previous === undefined) {
    out.metadata = {
      ...out.metadata,
      annotations: { ...out.metadata?.annotations, [STATUS_ANNOTATION]: JSON.stringify({ injected: unique, mode } satisfies InjectionStatus) },
    };
  }
  return { pod: out, injected: unique, mode, patch: fastJsonPatch.compare(pod, out) };
}
