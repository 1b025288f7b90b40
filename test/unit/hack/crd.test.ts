// The CRD generator's list markers: what server-side apply reads on a CRD, spelled from what the
// API server reads on the built-in type (list-type first, else the strategic-merge strategy).
import { describe, expect, it } from '@jest/globals';
import { expandTemplate, listMarkers } from '../../../hack/crd/generate.js';

describe('listMarkers', () => {
  it.each([
    [
      {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
        'x-kubernetes-patch-merge-key': 'containerPort',
        'x-kubernetes-patch-strategy': 'merge',
      },
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['containerPort', 'protocol'] },
    ],
    [{ 'x-kubernetes-list-type': 'atomic' }, { 'x-kubernetes-list-type': 'atomic' }],
    [
      { 'x-kubernetes-patch-strategy': 'merge,retainKeys', 'x-kubernetes-patch-merge-key': 'name' },
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ],
    [{ 'x-kubernetes-patch-strategy': 'merge' }, { 'x-kubernetes-list-type': 'set' }],
    [{ 'x-kubernetes-patch-strategy': 'retainKeys' }, {}],
    [{}, {}],
  ])('%j → %j', (upstream, markers) => {
    expect(listMarkers(upstream)).toEqual(markers);
  });
});

describe('expandTemplate', () => {
  const schemas = {
    'io.k8s.api.core.v1.PodTemplateSpec': { properties: { spec: { $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' } } },
    'io.k8s.api.core.v1.PodSpec': {
      properties: {
        ports: {
          type: 'array',
          items: { $ref: '#/components/schemas/io.k8s.api.core.v1.ContainerPort' },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
        },
        names: { type: 'array', items: { type: 'string' }, 'x-kubernetes-patch-strategy': 'merge' },
        broken: {
          type: 'array',
          items: { $ref: '#/components/schemas/io.k8s.api.core.v1.ContainerPort' },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['hostIP'],
        },
      },
    },
    'io.k8s.api.core.v1.ContainerPort': {
      type: 'object',
      required: ['containerPort'],
      properties: { containerPort: { type: 'integer' }, protocol: { type: 'string', default: 'TCP' }, hostIP: { type: 'string' } },
    },
  };

  it("keeps the markers and an optional key's upstream default, and fails on a key neither required nor defaulted", () => {
    expect(() => expandTemplate(schemas)).toThrow('list map key hostIP is neither required nor defaulted');
    const { broken: _broken, ...fine } = schemas['io.k8s.api.core.v1.PodSpec'].properties;
    const spec = (expandTemplate({ ...schemas, 'io.k8s.api.core.v1.PodSpec': { properties: fine } }).properties as Record<string, Record<string, unknown>>)
      .spec as { properties: Record<string, Record<string, unknown>> };
    expect(spec.properties.ports).toMatchObject({
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
      items: { required: ['containerPort'], properties: { protocol: { type: 'string', default: 'TCP' }, hostIP: { type: 'string' } } },
    });
    expect((spec.properties.ports?.items as { properties: { hostIP: object } }).properties.hostIP).not.toHaveProperty('default');
    expect(spec.properties.names).toEqual({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' });
  });
});
