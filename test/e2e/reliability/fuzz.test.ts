// Hostile input against the two HTTP edges of a running manager: 5,000 generated payloads for the
// scheduler extender and 5,000 for the admission webhook (malformed JSON, wrong shapes, random
// objects, mutated valid requests, random sidecar annotations). Every answer must be a valid
// response or a 4xx with a message — never a 5xx, a hang, or a dead process.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { freePort } from '../../../hack/control-plane/processes.js';
import { clusterState, createNamespace } from '../support/cluster.js';
import { extenderUrl as schedulerExtenderUrl, schedulerTls } from '../support/extender.js';
import { httpGet, killAll } from '../support/processes.js';
import { localWebhookFlags, startManager, type RunningManager } from '../support/podgroups.js';

const RUNS = 5000;
const TIMEOUT_MS = 5000;

interface Reply {
  status: number;
  body: string;
}

const webhookAgent = new Agent({ keepAlive: true, rejectUnauthorized: false });

function post(url: string, body: string, agent: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const options = { method: 'POST', headers: { 'Content-Type': 'application/json' }, timeout: TIMEOUT_MS };
    const handler = (res: IncomingMessage): void => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    };
    const req = target.protocol === 'https:' ? httpsRequest(target, { ...options, agent }, handler) : httpRequest(target, options, handler);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const annotationKeys = [
  'inject',
  'containers',
  'mode',
  'log-path',
  'log-files',
  'log-output',
  'git-repo',
  'git-ref',
  'git-period',
  'git-root',
  'git-link',
  'git-mount-path',
  'git-secret',
].map((k) => `sidecars.podgroup.dev/${k}`);
const annotationValue = fc.oneof(
  fc.string(),
  fc.constantFrom(
    'false',
    'true',
    'log-collector',
    'git-sync',
    'native',
    'fallback',
    '/var/log/app',
    '10s',
    'https://example.com/r.git',
    'forward://h:1',
    'app',
    '',
    '/',
  ),
);
const podLike = fc.record(
  {
    metadata: fc.record(
      {
        name: fc.oneof(fc.string(), fc.constant('p')),
        namespace: fc.constantFrom('fuzz', 'kube-system', ''),
        annotations: fc.dictionary(fc.constantFrom(...annotationKeys), annotationValue),
        labels: fc.dictionary(fc.string(), fc.string()),
      },
      { requiredKeys: [] },
    ),
    spec: fc.oneof(
      fc.record({
        containers: fc.array(
          fc.record({
            name: fc.oneof(fc.constant('app'), fc.string()),
            image: fc.string(),
            volumeMounts: fc.array(fc.record({ name: fc.string(), mountPath: fc.string() }), { maxLength: 2 }),
          }),
          { maxLength: 3 },
        ),
      }),
      fc.jsonValue(),
    ),
  },
  { requiredKeys: [] },
);

describe('fuzzing the extender and the webhook', () => {
  let manager: RunningManager;
  let webhookUrl = '';
  let extenderUrl = '';
  let extenderAgent: Agent | undefined;
  let own: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    own = await createNamespace('e2e-fuzz-system');
    const port = await freePort();
    manager = await startManager(localWebhookFlags(port, own.name, 'fuzz-none'));
    webhookUrl = `https://127.0.0.1:${port}/mutate-v1-pod`;
    extenderUrl = schedulerExtenderUrl();
    // As the podgroup-scheduler: its client certificate.
    extenderAgent = new Agent({ keepAlive: true, ...schedulerTls() });
  });
  afterAll(async () => {
    webhookAgent.destroy();
    extenderAgent?.destroy();
    await manager?.stop();
    await killAll();
    await own?.remove();
  });

  const valid = (r: Reply): boolean => {
    if (r.status >= 500 || r.status === 0) {
      return false;
    }
    try {
      JSON.parse(r.body);
      return true;
    } catch {
      return false;
    }
  };

  it(`answers ${RUNS} hostile extender requests with results or 4xx`, async () => {
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            Pod: podLike,
            NodeNames: fc.oneof(fc.array(fc.string(), { maxLength: 5 }), fc.jsonValue()),
            Nodes: fc.oneof(fc.constant(undefined), fc.jsonValue(), fc.record({ items: fc.array(fc.jsonValue(), { maxLength: 3 }) })),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      fc
        .record({ PodName: fc.string(), PodNamespace: fc.string(), PodUID: fc.string(), Node: fc.string() }, { requiredKeys: [] })
        .map((v) => JSON.stringify(v)),
    );
    const verb = fc.constantFrom('/filter', '/prioritize', '/bind', '/preempt', '/', '/filter/x');
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(verb, body, async (path, payload) => {
        const reply = await post(`${extenderUrl}${path}`, payload, extenderAgent ?? webhookAgent);
        answered += 1;
        return valid(reply);
      }),
      { numRuns: RUNS },
    );
    expect(answered).toBe(RUNS);
    expect((await httpGet(`${manager.probesUrl}/healthz`)).status).toBe(200);
  });

  it(`answers ${RUNS} hostile admission reviews with responses or 4xx`, async () => {
    const review = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record({
          uid: fc.oneof(fc.uuid(), fc.string()),
          namespace: fc.constantFrom('fuzz', 'kube-system', own.name),
          operation: fc.constantFrom('CREATE', 'UPDATE'),
          kind: fc.constantFrom({ kind: 'Pod' }, { kind: 'Service' }),
          object: podLike,
        })
        .map((request) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request })),
    );
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(review, async (payload) => {
        const reply = await post(webhookUrl, payload, webhookAgent);
        answered += 1;
        if (!valid(reply)) {
          return false;
        }
        if (reply.status === 200) {
          const parsed = JSON.parse(reply.body) as { response?: { uid?: unknown; allowed?: unknown; patch?: unknown } };
          if (typeof parsed.response?.allowed !== 'boolean') {
            return false;
          }
          if (parsed.response.patch !== undefined) {
            return Array.isArray(JSON.parse(Buffer.from(String(parsed.response.patch), 'base64').toString('utf8')));
          }
        }
        return true;
      }),
      { numRuns: RUNS },
    );
    expect(answered).toBe(RUNS);
    const metrics = (await httpGet(manager.metricsUrl)).body;
    expect(metrics).not.toMatch(/controller_runtime_webhook_requests_total\{webhook="\/mutate-v1-pod",code="5\d\d"\}/);
    expect(metrics).not.toMatch(/podgroup_extender_requests_total\{verb="[a-z]+",code="5\d\d"\}/);
  });
});
