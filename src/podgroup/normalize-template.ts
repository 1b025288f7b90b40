// Deciding whether two pod templates are the same workload: the API server defaults and
// canonicalises a Deployment's template before it is stored (pkg/apis/core/v1/defaults.go and
// the generated defaulters; resource.Quantity's canonical form), so a manifest respelled
// (`cpu: 0.5` for `500m`, an explicit `protocol: TCP`) changes nothing there. A PodGroup's
// template is stored as written; revisions compare this normal form instead, so the same
// respelling rolls no pods either. Pure.
//
// Not defaulted: schedulerName (an unset one means the podgroup-scheduler for a PodGroup, so it
// is a real difference here) and what upstream defaults only on Pods, never on templates
// (requests from limits, enableServiceLinks, host ports under hostNetwork).
import type * as k8s from '@kubernetes/client-node';
import type { Sidecars } from '../api/podgroup.js';

/** A quantity as sign, digits and a power of ten: value = (negative ? -1 : 1) * digits * 10^exp. */
interface Decimal {
  negative: boolean;
  digits: bigint;
  exp: number;
}

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const SUFFIX_OF_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_SUFFIX_OF_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const pow10 = (n: number): bigint => 10n ** BigInt(n);

/** Rounds |value| up (away from zero) to a multiple of 10^exp, as Quantity.RoundUp / inf.RoundUp. */
function roundUpTo(d: Decimal, exp: number): Decimal {
  if (d.exp >= exp) {
    return d;
  }
  const divisor = pow10(exp - d.exp);
  const quotient = d.digits / divisor;
  return { negative: d.negative, digits: d.digits % divisor === 0n ? quotient : quotient + 1n, exp };
}

/** Parses a quantity as resource.ParseQuantity does; undefined when it is not one. */
function parseQuantity(text: string): { value: Decimal; format: Format } | undefined {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)$/.exec(text);
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) {
    return undefined;
  }
  const [, sign, whole, fraction = '', suffix = ''] = m;
  let value: Decimal = { negative: sign === '-', digits: BigInt(`${whole}${fraction}` || '0'), exp: -fraction.length };
  let format: Format;
  if (suffix in DECIMAL_SUFFIXES) {
    format = 'DecimalSI';
    value = { ...value, exp: value.exp + (DECIMAL_SUFFIXES[suffix] ?? 0) };
  } else if (suffix in BINARY_SUFFIXES) {
    format = 'BinarySI';
    value = { ...value, digits: value.digits * 2n ** BigInt(BINARY_SUFFIXES[suffix] ?? 0) };
  } else if (/^[eE][-+]?[0-9]+$/.test(suffix)) {
    format = 'DecimalExponent';
    value = { ...value, exp: value.exp + Number(suffix.slice(1)) };
  } else {
    return undefined;
  }
  // Non-zero values are rounded up to the nano scale (ParseQuantity).
  value = value.digits === 0n ? { negative: false, digits: 0n, exp: 0 } : roundUpTo(value, -9);
  // A binary quantity between 0 and 1 is shown in DecimalSI (ParseQuantity).
  if (format === 'BinarySI' && value.digits !== 0n && value.digits < pow10(-value.exp)) {
    format = 'DecimalSI';
  }
  return { value, format };
}

/** Digits with the trailing zeros moved into the exponent, the exponent lowered to a multiple of 3 (AsCanonicalBytes). */
function decimalCanonical(d: Decimal): { mantissa: bigint; exp: number } {
  let { digits, exp } = d;
  while (digits !== 0n && digits % 10n === 0n) {
    digits /= 10n;
    exp += 1;
  }
  const down = ((exp % 3) + 3) % 3;
  return { mantissa: digits * pow10(down), exp: exp - down };
}

function formatQuantity(value: Decimal, requested: Format): string {
  if (value.digits === 0n) {
    return '0';
  }
  const sign = value.negative ? '-' : '';
  let format = requested;
  let integer: bigint | undefined;
  if (format === 'BinarySI') {
    const scale = pow10(Math.max(0, -value.exp));
    const exact = value.exp >= 0 || value.digits % scale === 0n;
    integer = value.exp >= 0 ? value.digits * pow10(value.exp) : value.digits / scale;
    // Below 1024, or not a whole number: DecimalSI, so nothing is rounded (CanonicalizeBytes).
    if (!exact || integer < 1024n) {
      format = 'DecimalSI';
    }
  }
  if (format === 'BinarySI' && integer !== undefined) {
    let power = 0;
    while (power < BINARY_SUFFIX_OF_POWER.length - 1 && integer % 1024n === 0n) {
      integer /= 1024n;
      power += 1;
    }
    return `${sign}${integer}${BINARY_SUFFIX_OF_POWER[power]}`;
  }
  const { mantissa, exp } = decimalCanonical(value);
  const suffix = format === 'DecimalSI' ? SUFFIX_OF_EXPONENT.get(exp) : undefined;
  return `${sign}${mantissa}${suffix ?? (exp === 0 ? '' : `e${exp}`)}`;
}

/**
 * A quantity in its canonical form, as the API server stores it: `0.5` → `500m`, `1000m` → `1`,
 * `1.5Gi` → `1536Mi`. `milli` rounds up to thousandths first, as resource lists are
 * (SetDefaults_ResourceList). Anything that is not a quantity is returned unchanged.
 */
export function canonicalQuantity(value: unknown, options: { milli?: boolean } = {}): unknown {
  if (typeof value !== 'string' && typeof value !== 'number') {
    return value;
  }
  const parsed = parseQuantity(typeof value === 'number' ? numberText(value) : value);
  if (parsed === undefined) {
    return value;
  }
  const rounded = options.milli === true && parsed.value.digits !== 0n ? roundUpTo(parsed.value, -3) : parsed.value;
  return formatQuantity(rounded, parsed.format);
}

/** A JSON number as its decimal text (no exponent notation for the common range). */
function numberText(n: number): string {
  if (!Number.isFinite(n)) {
    return String(n);
  }
  const text = String(n);
  return /e/.test(text) ? text.replace(/e\+?/, 'e') : text;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const asObjects = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

function resourceList(list: unknown): unknown {
  return isObject(list) ? Object.fromEntries(Object.entries(list).map(([k, v]) => [k, canonicalQuantity(v, { milli: true })])) : list;
}

function resourceRequirements(r: Json): void {
  for (const key of ['limits', 'requests']) {
    if (key in r) {
      r[key] = resourceList(r[key]);
    }
  }
}

const setDefault = (obj: Json, key: string, value: unknown): void => {
  if (obj[key] === undefined || obj[key] === null || obj[key] === '') {
    obj[key] = value;
  }
};

function httpGet(handler: unknown): void {
  if (isObject(handler) && isObject(handler.httpGet)) {
    setDefault(handler.httpGet, 'path', '/');
    setDefault(handler.httpGet, 'scheme', 'HTTP');
  }
}

function probe(p: unknown): void {
  if (!isObject(p)) {
    return;
  }
  for (const [key, value] of [
    ['timeoutSeconds', 1],
    ['periodSeconds', 10],
    ['successThreshold', 1],
    ['failureThreshold', 3],
  ] as const) {
    if (p[key] === undefined || p[key] === 0) {
      p[key] = value;
    }
  }
  httpGet(p);
}

function divisor(ref: unknown): void {
  if (isObject(ref) && 'divisor' in ref) {
    ref.divisor = canonicalQuantity(ref.divisor);
  }
}

function fieldRef(ref: unknown): void {
  if (isObject(ref)) {
    setDefault(ref, 'apiVersion', 'v1');
  }
}

/** PullAlways for `:latest` or no tag and no digest, else PullIfNotPresent (parsers.ParseImageName). */
function defaultPullPolicy(image: unknown): string {
  const ref = typeof image === 'string' ? image : '';
  const name = ref.split('@')[0] ?? '';
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : ref.includes('@') ? '' : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function container(c: Json): void {
  setDefault(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  for (const port of asObjects(c.ports)) {
    setDefault(port, 'protocol', 'TCP');
    if (port.hostPort === 0) {
      delete port.hostPort;
    }
  }
  for (const key of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    probe(c[key]);
  }
  if (isObject(c.lifecycle)) {
    httpGet(c.lifecycle.postStart);
    httpGet(c.lifecycle.preStop);
  }
  for (const env of asObjects(c.env)) {
    if (isObject(env.valueFrom)) {
      fieldRef(env.valueFrom.fieldRef);
      divisor(env.valueFrom.resourceFieldRef);
    }
  }
  if (isObject(c.resources)) {
    resourceRequirements(c.resources);
  }
  // Non-pointer booleans: false is what an absent one decodes to.
  for (const key of ['stdin', 'stdinOnce', 'tty']) {
    if (c[key] === false) {
      delete c[key];
    }
  }
  for (const mount of asObjects(c.volumeMounts)) {
    if (mount.readOnly === false) {
      delete mount.readOnly;
    }
  }
}

const VOLUME_SOURCES_WITH_MODE = ['secret', 'configMap', 'downwardAPI', 'projected'];

function downwardItems(items: unknown): void {
  for (const item of asObjects(items)) {
    fieldRef(item.fieldRef);
    divisor(item.resourceFieldRef);
  }
}

function volume(v: Json): void {
  const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== null && v[k] !== undefined);
  if (sources.length === 0) {
    v.emptyDir = {};
  }
  for (const key of VOLUME_SOURCES_WITH_MODE) {
    if (isObject(v[key])) {
      setDefault(v[key], 'defaultMode', 420);
    }
  }
  if (isObject(v.hostPath)) {
    setDefault(v.hostPath, 'type', '');
  }
  if (isObject(v.emptyDir) && 'sizeLimit' in v.emptyDir) {
    v.emptyDir.sizeLimit = canonicalQuantity(v.emptyDir.sizeLimit);
  }
  if (isObject(v.downwardAPI)) {
    downwardItems(v.downwardAPI.items);
  }
  if (isObject(v.projected)) {
    for (const source of asObjects(v.projected.sources)) {
      if (isObject(source.downwardAPI)) {
        downwardItems(source.downwardAPI.items);
      }
      if (isObject(source.serviceAccountToken)) {
        setDefault(source.serviceAccountToken, 'expirationSeconds', 3600);
      }
    }
  }
  const claim = isObject(v.ephemeral) && isObject(v.ephemeral.volumeClaimTemplate) ? v.ephemeral.volumeClaimTemplate.spec : undefined;
  if (isObject(claim)) {
    setDefault(claim, 'volumeMode', 'Filesystem');
    if (isObject(claim.resources)) {
      resourceRequirements(claim.resources);
    }
  }
}

function podSpec(spec: Json): void {
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'restartPolicy', 'Always');
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) {
    spec.terminationGracePeriodSeconds = 30;
  }
  for (const c of [...asObjects(spec.containers), ...asObjects(spec.initContainers)]) {
    container(c);
  }
  for (const v of asObjects(spec.volumes)) {
    volume(v);
  }
  if ('overhead' in spec) {
    spec.overhead = resourceList(spec.overhead);
  }
  if (isObject(spec.resources)) {
    resourceRequirements(spec.resources);
  }
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (spec[key] === false) {
      delete spec[key];
    }
  }
}

/**
 * Drops what the API server's encoding cannot tell from absent: null, empty strings, empty
 * lists and empty objects (omitempty fields; `securityContext: {}` and `resources: {}` are how
 * a defaulted Deployment template shows them), recursively. Runs after defaulting, so an empty
 * object that means something (`emptyDir: {}`) was already made equal on both sides.
 */
function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(pruneEmpty).filter((v) => v !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (isObject(value)) {
    const entries = Object.entries(value)
      .map(([k, v]) => [k, pruneEmpty(v)] as const)
      .filter(([, v]) => v !== undefined);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value === null || value === '' ? undefined : value;
}

const deepCopy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/** The template as the API server would store it in a Deployment (see the file comment), for comparing. */
export function normalizeTemplate(template: k8s.V1PodTemplateSpec): unknown {
  const copy = deepCopy(template) as unknown as Json;
  if (isObject(copy.spec)) {
    podSpec(copy.spec);
  }
  return pruneEmpty(copy) ?? {};
}

/** spec.sidecars with their resource quantities canonical (a respelled quantity there rolls nothing either). */
export function normalizeSidecars(sidecars: Sidecars | undefined): unknown {
  if (sidecars === undefined) {
    return undefined;
  }
  const copy = deepCopy(sidecars) as unknown as Json;
  for (const sidecar of Object.values(copy)) {
    if (isObject(sidecar) && isObject(sidecar.resources)) {
      resourceRequirements(sidecar.resources);
    }
  }
  return pruneEmpty(copy);
}
