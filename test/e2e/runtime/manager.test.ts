// The manager against a real API server: /readyz turns 200 only once caches have synced,
// /metrics exposes controller-runtime's metric names with values after work, and a
// reconciler that throws is retried with backoff without taking the process down.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { Controller } from '../../../src/runtime/controller.js';
import { createLogger } from '../../../src/runtime/logging.js';
import { Manager } from '../../../src/runtime/manager.js';
import { customResource, type ResourceType } from '../../../src/runtime/resources.js';
import { createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { httpGet, metricValue } from '../support/processes.js';

const kc = kubeConfig();
const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const GROUP = 'e2e.podgroup.dev';
const CRD_NAME = `widgets.${GROUP}`;

const widgetCrd: k8s.V1CustomResourceDefinition = {
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { fail: { type: 'boolean' } } } } } },
      },
    ],
  },
};

interface Widget extends k8s.KubernetesObject {
  spec?: { fail?: boolean };
}

describe('manager', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: Manager;
  const reconciled: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace('e2e-manager');
    await ext.deleteCustomResourceDefinition({ name: CRD_NAME }).catch(() => undefined);
    await eventually(
      'old CRD gone',
      async () =>
        await ext.readCustomResourceDefinition({ name: CRD_NAME }).then(
          () => false,
          () => true,
        ),
      60_000,
    );
  });
  afterAll(async () => {
    await manager?.stop();
    await ext.deleteCustomResourceDefinition({ name: CRD_NAME }).catch(() => undefined);
    await ns.remove();
  });

  it('is not ready until its caches sync, and serves metrics after work', async () => {
    manager = new Manager({
      kubeConfig: kc,
      client: { qps: 50, burst: 100 },
      logger: createLogger({ silent: true }),
      metricsAddress: { host: '127.0.0.1', port: 0 },
      probeAddress: { host: '127.0.0.1', port: 0 },
      eventComponent: 'e2e-manager',
      onLostLeadership: 'stop',
    });
    // The kind does not exist yet: its list fails until the CRD is installed.
    const widgets: ResourceType<Widget> = customResource<Widget>(manager.clients, { group: GROUP, version: 'v1', plural: 'widgets', kind: 'Widget' });
    const informer = manager.informers.for(widgets);
    const controller = new Controller(
      'widget-e2e',
      {
        async reconcile(request) {
          const widget = informer.store.get(`${request.namespace}/${request.name}`);
          if (widget?.spec?.fail === true) {
            throw new Error('this widget always fails');
          }
          if (widget !== undefined) {
            reconciled.push(request.name);
            manager.events.event(widget, 'Normal', 'Reconciled', 'widget reconciled');
          }
          return undefined;
        },
      },
      { maxConcurrentReconciles: 2, logger: manager.log },
    ).watchFor(informer);
    manager.addController(controller);
    await manager.start();
    const probes = `http://127.0.0.1:${manager.probePort}`;

    expect((await httpGet(`${probes}/healthz`)).status).toBe(200);
    const notReady = await httpGet(`${probes}/readyz`);
    expect(notReady.status).toBe(500);
    expect(notReady.body).toContain(`[-]informers failed: not synced: widgets.${GROUP}`);

    await ext.createCustomResourceDefinition({ body: widgetCrd });
    await eventually('readyz 200 after the CRD appears', async () => (await httpGet(`${probes}/readyz`)).status === 200, 90_000, 250);

    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: ns.name,
      plural: 'widgets',
      body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'good' }, spec: {} },
    });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: ns.name,
      plural: 'widgets',
      body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'bad' }, spec: { fail: true } },
    });
    await eventually('good widget reconciled', () => reconciled.includes('good'));

    const metricsUrl = `http://127.0.0.1:${manager.metricsPort}/metrics`;
    const text = await eventually('a retried error in the metrics', async () => {
      const body = (await httpGet(metricsUrl)).body;
      return (metricValue(body, 'controller_runtime_reconcile_errors_total{controller="widget-e2e"}') ?? 0) >= 2 ? body : undefined;
    });
    expect(metricValue(text, 'controller_runtime_reconcile_total{controller="widget-e2e",result="success"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'workqueue_adds_total{name="widget-e2e",controller="widget-e2e"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'workqueue_retries_total{name="widget-e2e",controller="widget-e2e"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'controller_runtime_max_concurrent_reconciles{controller="widget-e2e"}')).toBe(2);
    for (const name of [
      'controller_runtime_reconcile_time_seconds_count{controller="widget-e2e"}',
      'workqueue_queue_duration_seconds_count{name="widget-e2e",controller="widget-e2e"}',
      'workqueue_work_duration_seconds_count{name="widget-e2e",controller="widget-e2e"}',
    ]) {
      expect(metricValue(text, name)).toBeGreaterThan(0);
    }
    expect(text).toContain('controller_runtime_active_workers{controller="widget-e2e"}');
    expect(text).toContain('workqueue_depth{name="widget-e2e",controller="widget-e2e"}');
    expect(text).toContain('workqueue_unfinished_work_seconds{name="widget-e2e",controller="widget-e2e"}');
    expect(text).toContain('workqueue_longest_running_processor_seconds{name="widget-e2e",controller="widget-e2e"}');
    expect(text).toMatch(/rest_client_requests_total\{code="201",method="POST",host="127\.0\.0\.1:\d+"\} [1-9]/);
    expect(text).toMatch(/process_resident_memory_bytes [1-9]/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds /);

    // The event reached the API server against the widget.
    await manager.events.flush();
    const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=good' });
    expect(events.items.some((e) => e.reason === 'Reconciled' && e.source?.component === 'e2e-manager')).toBe(true);
  });
});
