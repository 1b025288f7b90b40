// The PodGroup CRD except the pod template, whose schema is expanded from the API server's own
// OpenAPI by generate.ts. Every field has a description: `kubectl explain podgroup.spec...`
// is the field guide.
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/api/podgroup.js';

export type Schema = Record<string, unknown>;

const intOrPercent = (description: string): Schema => ({
  description,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
  'x-kubernetes-validations': [
    {
      rule: "type(self) == int ? self >= 0 : self.matches('^[0-9]+%$')",
      message: 'must be a non-negative integer or a percentage such as "25%"',
    },
  ],
});

const labelSelector: Schema = {
  description:
    "Label query over pods that belong to this PodGroup. It must match the pod template's labels. Pods that match it and have no controller are adopted; owned pods that stop matching are released. Immutable, as for a Deployment.",
  type: 'object',
  properties: {
    matchLabels: {
      description: 'A map of {key,value} pairs; each must equal the pod label of that key.',
      type: 'object',
      additionalProperties: { type: 'string', maxLength: 63 },
      maxProperties: 64,
    },
    matchExpressions: {
      description: 'A list of label selector requirements; all must hold.',
      type: 'array',
      maxItems: 32,
      items: {
        description: 'A selector requirement: a key, an operator and values.',
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: { description: 'The label key the selector applies to.', type: 'string', maxLength: 317 },
          operator: {
            description: 'How the key relates to the values: In, NotIn, Exists or DoesNotExist.',
            type: 'string',
            enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
          },
          values: {
            description: 'Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.',
            type: 'array',
            maxItems: 64,
            items: { type: 'string', maxLength: 63 },
          },
        },
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: 'In and NotIn need values; Exists and DoesNotExist take none',
          },
        ],
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
  'x-kubernetes-validations': [
    { rule: 'self == oldSelf', message: 'spec.selector is immutable' },
    {
      rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
      message: 'spec.selector must not be empty (an empty selector would match every pod in the namespace)',
    },
  ],
};

const resources = (what: string): Schema => ({
  description: `Compute resources of the ${what} sidecar (defaults are applied by the webhook when unset).`,
  type: 'object',
  properties: {
    requests: {
      description: 'Minimum resources, e.g. {cpu: 10m, memory: 32Mi}.',
      type: 'object',
      additionalProperties: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
    },
    limits: {
      description: 'Maximum resources, e.g. {memory: 128Mi}.',
      type: 'object',
      additionalProperties: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
    },
  },
});

const containerNames: Schema = {
  description: 'App containers that get the shared volume mounted; empty means every container of the template.',
  type: 'array',
  maxItems: 32,
  items: { type: 'string', maxLength: 63 },
};

const sidecars: Schema = {
  description:
    "Sidecars the podgroup webhook injects into this PodGroup's pods: a log collector (Fluent Bit tails the app's log files from a shared emptyDir) and git-sync (keeps a shared code volume in sync with a Git repository).",
  type: 'object',
  properties: {
    logCollector: {
      description:
        'A Fluent Bit sidecar that tails the files the app writes into a shared emptyDir and prints them (kubectl logs POD -c log-collector) or forwards them to a central endpoint.',
      type: 'object',
      properties: {
        enabled: { description: 'Inject the log collector. Defaults to true when this block is present.', type: 'boolean', default: true },
        containers: containerNames,
        path: {
          description: 'Directory in the app containers where the app writes its log files. Default /var/log/app.',
          type: 'string',
          default: '/var/log/app',
          pattern: '^/[^:]*$',
          maxLength: 1024,
        },
        files: { description: 'Glob of the files to tail inside path. Default *.log.', type: 'string', default: '*.log', maxLength: 256 },
        output: {
          description: 'Where the logs go: stdout of the sidecar (default), or a Fluent Bit forward endpoint.',
          type: 'object',
          properties: {
            type: { description: 'stdout or forward.', type: 'string', enum: ['stdout', 'forward'], default: 'stdout' },
            host: { description: "forward: the receiver's host name or address.", type: 'string', maxLength: 253 },
            port: { description: "forward: the receiver's port. Default 24224.", type: 'integer', minimum: 1, maximum: 65535 },
          },
          'x-kubernetes-validations': [{ rule: "self.type != 'forward' || has(self.host)", message: 'output.host is required when output.type is forward' }],
        },
        image: { description: 'Overrides the Fluent Bit image the manager is configured with.', type: 'string', maxLength: 512 },
        resources: resources('log collector'),
      },
    },
    gitSync: {
      description:
        'A git-sync v4 sidecar that clones repo into a shared emptyDir (mounted read-only into the app) and keeps it in sync; the app starts only after the first sync.',
      type: 'object',
      required: ['repo'],
      properties: {
        repo: {
          description: 'The Git repository to clone: https://, ssh:// or git@host:path URL.',
          type: 'string',
          minLength: 1,
          maxLength: 2048,
          pattern: '^(https?://|ssh://|git@|file://)\\S+$',
        },
        allowPlainHTTP: {
          description: 'Allow a plain http:// repo. Off by default: code fetched without TLS can be altered on the way. Credentials are never sent over http.',
          type: 'boolean',
        },
        username: {
          description: 'The user name sent with the password of credentialsSecretRef (HTTPS). Not a secret. Default git.',
          type: 'string',
          minLength: 1,
          maxLength: 256,
        },
        ref: { description: 'Branch, tag or commit to sync. Default HEAD.', type: 'string', default: 'HEAD', maxLength: 256 },
        period: {
          description: 'How often to pull, as a Go duration (10s, 1m). Default 10s.',
          type: 'string',
          default: '10s',
          pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$',
        },
        root: {
          description: 'Directory inside the shared volume where git-sync keeps its state. Default /git.',
          type: 'string',
          default: '/git',
          pattern: '^/[^:]*$',
        },
        link: {
          description: 'Name of the symlink (under root) that atomically points at the current checkout. Default current.',
          type: 'string',
          default: 'current',
          pattern: '^[A-Za-z0-9._-]+$',
        },
        mountPath: {
          description: 'Where the code volume is mounted (read-only) in the app containers. The checkout is at mountPath/link. Default /git.',
          type: 'string',
          default: '/git',
          pattern: '^/[^:]*$',
        },
        containers: containerNames,
        credentialsSecretRef: {
          description:
            "A Secret in the pod's namespace with credentials, never inline, mounted as files (never environment variables): key password (HTTPS, read with git-sync --password-file; the user name is spec.sidecars.gitSync.username) or ssh (a private key) and optionally known_hosts.",
          type: 'object',
          required: ['name'],
          properties: { name: { description: 'Name of the Secret.', type: 'string', maxLength: 253 } },
        },
        mode: {
          description:
            'native: git-sync is a native sidecar (an init container with restartPolicy Always) with a startup probe, so the app starts after the first sync. fallback: an init container runs --one-time, then a regular sidecar keeps syncing. Default: native when the cluster supports it.',
          type: 'string',
          enum: ['native', 'fallback'],
        },
        image: { description: 'Overrides the git-sync image the manager is configured with.', type: 'string', maxLength: 512 },
        resources: resources('git-sync'),
      },
    },
  },
};

export function specSchema(templateSchema: Schema): Schema {
  return {
    description: 'The desired state: how many pods, from which template, and how to replace them.',
    type: 'object',
    required: ['selector', 'template'],
    properties: {
      replicas: {
        description: 'Number of desired pods. Default 1. Scaled by `kubectl scale podgroup/NAME --replicas=N` and HPAs (scale subresource).',
        type: 'integer',
        format: 'int32',
        minimum: 0,
        maximum: 100000,
        default: 1,
      },
      selector: labelSelector,
      template: {
        ...templateSchema,
        description: 'The pod template. Every pod the PodGroup creates is built from it; changing it starts a rollout to a new revision.',
      },
      minAvailable: {
        description:
          'Gang size: the podgroup-scheduler places no member until at least this many members can be placed together, and explains on the PodGroup (GangScheduled condition) why it is Pending. Must not exceed replicas. Unset: no gang constraint.',
        type: 'integer',
        format: 'int32',
        minimum: 1,
      },
      strategy: {
        description: 'How pods of an old template are replaced by pods of the new one.',
        type: 'object',
        default: { type: 'RollingUpdate' },
        properties: {
          type: {
            description:
              'RollingUpdate (default) replaces pods gradually within maxSurge/maxUnavailable. Recreate deletes every old pod and waits until they are gone before creating new ones.',
            type: 'string',
            enum: ['RollingUpdate', 'Recreate'],
            default: 'RollingUpdate',
          },
          rollingUpdate: {
            description: 'Bounds of a rolling update. Only with type RollingUpdate.',
            type: 'object',
            properties: {
              maxSurge: intOrPercent(
                'How many pods may exist above replicas during an update: a number or a percentage of replicas (rounded up). Default 25%. Whether terminating pods count is set by podReplacementPolicy.',
              ),
              maxUnavailable: intOrPercent(
                'How many pods may be unavailable during an update: a number or a percentage of replicas (rounded down). Default 25%. Not 0 together with maxSurge 0.',
              ),
            },
          },
        },
        'x-kubernetes-validations': [
          {
            rule: "self.type == 'RollingUpdate' || !has(self.rollingUpdate)",
            message: 'strategy.rollingUpdate is only allowed when strategy.type is RollingUpdate',
          },
          {
            rule: "!has(self.rollingUpdate) || !has(self.rollingUpdate.maxSurge) || !has(self.rollingUpdate.maxUnavailable) || !((type(self.rollingUpdate.maxSurge) == int ? self.rollingUpdate.maxSurge == 0 : self.rollingUpdate.maxSurge.matches('^0+%$')) && (type(self.rollingUpdate.maxUnavailable) == int ? self.rollingUpdate.maxUnavailable == 0 : self.rollingUpdate.maxUnavailable.matches('^0+%$')))",
            message: 'maxSurge and maxUnavailable must not both be 0: the rollout could never make progress',
          },
        ],
      },
      minReadySeconds: {
        description: 'Seconds a new pod must be Ready (without any container crashing) before it counts as available. Default 0.',
        type: 'integer',
        format: 'int32',
        minimum: 0,
        default: 0,
      },
      progressDeadlineSeconds: {
        description:
          'Seconds a rollout may make no progress before the Progressing condition turns False with reason ProgressDeadlineExceeded. Default 600. Must exceed minReadySeconds.',
        type: 'integer',
        format: 'int32',
        minimum: 1,
        default: 600,
      },
      revisionHistoryLimit: {
        description: 'How many old ControllerRevisions to keep for rollback. Default 10.',
        type: 'integer',
        format: 'int32',
        minimum: 0,
        default: 10,
      },
      paused: {
        description: 'Pause rollouts: template changes are recorded but no pod is replaced until unpaused. Scaling still works.',
        type: 'boolean',
        default: false,
      },
      podReplacementPolicy: {
        description:
          'When the replacement for a terminating pod is created. TerminationStarted (default, what a ReplicaSet does): as soon as the deletion of the pod starts, so pods held Terminating (a finalizer, a long terminationGracePeriodSeconds, a node that is unreachable) never leave the PodGroup short; old and new pods may run side by side meanwhile, and terminating pods do not count against replicas+maxSurge. TerminationComplete (opt-in, for gangs whose members must never overlap: ranks, licences, exclusive devices): a terminating pod counts against replicas+maxSurge until it is gone. Its cost: while pods stay Terminating the PodGroup runs fewer pods than replicas (with maxSurge 0 none is replaced at all), may report Available=False, and a rollout may exceed progressDeadlineSeconds; on node loss that lasts until the node returns or its pods are force-deleted.',
        type: 'string',
        enum: ['TerminationStarted', 'TerminationComplete'],
        default: 'TerminationStarted',
      },
      placement: {
        description: "How the podgroup-scheduler places this group's pods on nodes.",
        type: 'object',
        properties: {
          policy: {
            description: 'Spread (default): prefer nodes and zones with fewer members. Pack: prefer nodes with more members and higher utilisation.',
            type: 'string',
            enum: ['Spread', 'Pack'],
            default: 'Spread',
          },
          maxPerNode: { description: 'At most this many members on one node. Unset: no limit.', type: 'integer', format: 'int32', minimum: 1 },
        },
      },
      sidecars,
    },
    'x-kubernetes-validations': [
      {
        rule: '!has(self.minAvailable) || self.minAvailable <= self.replicas',
        message: 'spec.minAvailable must not exceed spec.replicas',
        fieldPath: '.minAvailable',
      },
      {
        rule: '!has(self.selector.matchLabels) || self.selector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])',
        message: 'spec.selector.matchLabels must match spec.template.metadata.labels',
        fieldPath: '.selector',
      },
      {
        rule: "!has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e, (e.operator == 'In' && has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels && self.template.metadata.labels[e.key] in e.values) || (e.operator == 'NotIn' && (!has(self.template.metadata) || !has(self.template.metadata.labels) || !(e.key in self.template.metadata.labels) || !(self.template.metadata.labels[e.key] in e.values))) || (e.operator == 'Exists' && has(self.template.metadata) && has(self.template.metadata.labels) && e.key in self.template.metadata.labels) || (e.operator == 'DoesNotExist' && (!has(self.template.metadata) || !has(self.template.metadata.labels) || !(e.key in self.template.metadata.labels))))",
        message: 'spec.selector.matchExpressions must match spec.template.metadata.labels',
        fieldPath: '.selector',
      },
      {
        rule: 'self.progressDeadlineSeconds > self.minReadySeconds',
        message: 'spec.progressDeadlineSeconds must be greater than spec.minReadySeconds',
        fieldPath: '.progressDeadlineSeconds',
      },
      {
        rule: "!has(self.template.spec.restartPolicy) || self.template.spec.restartPolicy == 'Always'",
        message: 'spec.template.spec.restartPolicy must be Always (PodGroup pods are long-running and replaced when they fail)',
        fieldPath: '.template.spec.restartPolicy',
      },
    ],
  };
}

const condition: Schema = {
  description: "One aspect of the PodGroup's state.",
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: {
      description:
        'Available, Progressing, ReplicaFailure, GangScheduled, or the standard Reconciling and Stalled that kstatus (Flux, kpt, Helm --wait) reads.',
      type: 'string',
    },
    status: { description: 'True, False or Unknown.', type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { description: 'A CamelCase reason, e.g. NewReplicaSetAvailable or ProgressDeadlineExceeded.', type: 'string' },
    message: { description: 'A human-readable explanation.', type: 'string' },
    lastTransitionTime: { description: 'When status last changed.', type: 'string', format: 'date-time' },
    lastUpdateTime: { description: 'When this condition was last written.', type: 'string', format: 'date-time' },
    observedGeneration: { description: 'The spec generation this condition was computed from.', type: 'integer', format: 'int64' },
  },
};

const count = (description: string): Schema => ({ description, type: 'integer', format: 'int32', minimum: 0 });

export const statusSchema: Schema = {
  description: 'The observed state, written by the controller.',
  type: 'object',
  // Until the controller first writes it, a new PodGroup reads as not yet observed (generation 1,
  // observedGeneration 0): kstatus, Argo CD and `kubectl podgroup rollout status` wait, as they
  // do for a new Deployment, instead of calling it rolled out.
  default: { observedGeneration: 0 },
  properties: {
    observedGeneration: { description: 'The generation of the spec this status describes.', type: 'integer', format: 'int64' },
    replicas: count('Pods owned by the PodGroup and not terminating.'),
    readyReplicas: count('Pods with the Ready condition.'),
    availableReplicas: count('Pods Ready for at least minReadySeconds.'),
    updatedReplicas: count('Pods of the update (newest) revision.'),
    unavailableReplicas: count('replicas wanted minus available (never negative).'),
    terminatingReplicas: count('Owned pods that are terminating (deletionTimestamp set).'),
    scheduledReplicas: count('Pods bound to a node.'),
    currentRevision: { description: 'The revision hash most pods ran when the last rollout began.', type: 'string' },
    updateRevision: { description: 'The revision hash of the current template.', type: 'string' },
    collisionCount: { description: 'Hash collisions seen when naming a ControllerRevision; mixed into the next hash.', type: 'integer', format: 'int32' },
    sizedForReplicas: count(
      'The spec.replicas the pods were last sized for; a different spec.replicas is a scaling event, spread across revisions in proportion.',
    ),
    selector: { description: 'spec.selector as a string, for the scale subresource and HPAs.', type: 'string' },
    conditions: {
      description:
        'Available, Progressing, ReplicaFailure and GangScheduled, with the reasons kube-controller-manager uses for Deployments; Reconciling and Stalled, derived from them for kstatus (True while a rollout is under way, and once its progress deadline is exceeded).',
      type: 'array',
      items: condition,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
  },
};

export function podGroupCrd(templateSchema: Schema): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'podgroup', shortNames: ['pgd'], categories: ['all', 'podgroup'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', description: 'Ready pods / desired', jsonPath: '.status.readyReplicas' },
            { name: 'Desired', type: 'integer', description: 'Desired pods', jsonPath: '.spec.replicas' },
            { name: 'Up-To-Date', type: 'integer', description: 'Pods of the current template', jsonPath: '.status.updatedReplicas' },
            { name: 'Available', type: 'integer', description: 'Pods available for minReadySeconds', jsonPath: '.status.availableReplicas' },
            { name: 'Min-Available', type: 'integer', description: 'Gang size', jsonPath: '.spec.minAvailable' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              description: `A PodGroup (${API_VERSION}) runs a set of identical pods like a Deployment, owning them directly, with rolling updates, revisions and rollback, a gang size for the podgroup-scheduler, and injected log-collector and git-sync sidecars.`,
              type: 'object',
              properties: {
                apiVersion: { description: `${API_VERSION}`, type: 'string' },
                kind: { description: KIND, type: 'string' },
                // The API server forbids anything but type here; kubectl explain shows ObjectMeta.
                metadata: { type: 'object' },
                spec: specSchema(templateSchema),
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}
