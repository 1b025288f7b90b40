// Label selector matching (metav1.LabelSelector semantics).
import type * as k8s from '@kubernetes/client-node';

export function matchesSelector(selector: k8s.V1LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) {
      return false;
    }
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const value = l[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value ?? '')) {
          return false;
        }
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value ?? '')) {
          return false;
        }
        break;
      case 'Exists':
        if (!has) {
          return false;
        }
        break;
      case 'DoesNotExist':
        if (has) {
          return false;
        }
        break;
      default:
        return false;
    }
  }
  // An empty selector matches nothing here: the CRD forbids it, and matching every pod would be dangerous.
  return Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions ?? []).length > 0;
}
