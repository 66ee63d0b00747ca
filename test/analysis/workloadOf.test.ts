// The workload of a pod, from its owner references and labels alone: what each controller's naming lets us infer,
// and what it does not.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { type PodOwnership, workloadOf } from '../../lib/analysis/workloadOf.ts';

const owned = (kind: string, name: string, overrides: Partial<PodOwnership> = {}): PodOwnership => ({
  name: 'pod-abcde',
  ownerReferences: [{ kind, name, controller: true }],
  ...overrides,
});

describe('workloadOf', () => {
  test.each<[string, PodOwnership, { kind: string; name: string }]>([
    [
      'a ReplicaSet named <deployment>-<pod-template-hash> is the Deployment’s',
      owned('ReplicaSet', 'checkout-api-7d9f8b6c5d', { labels: { 'pod-template-hash': '7d9f8b6c5d', app: 'x' } }),
      { kind: 'Deployment', name: 'checkout-api' },
    ],
    [
      'an older all-digit pod-template-hash works the same',
      owned('ReplicaSet', 'nginx-deployment-1564180365', { labels: { 'pod-template-hash': '1564180365' } }),
      { kind: 'Deployment', name: 'nginx-deployment' },
    ],
    [
      'a ReplicaSet without the pod-template-hash label is its own workload',
      owned('ReplicaSet', 'checkout-api-7d9f8b6c5d'),
      { kind: 'ReplicaSet', name: 'checkout-api-7d9f8b6c5d' },
    ],
    [
      'a ReplicaSet whose name does not end with the hash is its own workload',
      owned('ReplicaSet', 'legacy-frontend', { labels: { 'pod-template-hash': '7d9f8b6c5d' } }),
      { kind: 'ReplicaSet', name: 'legacy-frontend' },
    ],
    [
      'a ReplicaSet named exactly -<hash> keeps its name (no empty Deployment name)',
      owned('ReplicaSet', '-abc', { labels: { 'pod-template-hash': 'abc' } }),
      { kind: 'ReplicaSet', name: '-abc' },
    ],
    [
      'a Job named <cronjob>-<minutes since the epoch> is the CronJob’s (inferred from the name)',
      owned('Job', 'nightly-report-29104560'),
      { kind: 'CronJob', name: 'nightly-report' },
    ],
    [
      'a CronJob whose own name ends in digits keeps them',
      owned('Job', 'backup-v2-29104560'),
      { kind: 'CronJob', name: 'backup-v2' },
    ],
    [
      'a Job with a short number is a Job someone named',
      owned('Job', 'migrate-42'),
      { kind: 'Job', name: 'migrate-42' },
    ],
    ['a Job without a number is a Job', owned('Job', 'db-migrate'), { kind: 'Job', name: 'db-migrate' }],
    ['a StatefulSet as it is', owned('StatefulSet', 'redis'), { kind: 'StatefulSet', name: 'redis' }],
    ['a DaemonSet as it is', owned('DaemonSet', 'kube-proxy'), { kind: 'DaemonSet', name: 'kube-proxy' }],
    ['a custom resource as it is', owned('Rollout', 'shop'), { kind: 'Rollout', name: 'shop' }],
    [
      'a mirror (static) pod owned by its Node is its own workload',
      owned('Node', 'aks-nodepool1-31415926-vmss000001', { name: 'etcd-aks-nodepool1-31415926-vmss000001' }),
      { kind: 'Pod', name: 'etcd-aks-nodepool1-31415926-vmss000001' },
    ],
    ['no owner: the pod itself', { name: 'debug-shell' }, { kind: 'Pod', name: 'debug-shell' }],
    ['an empty owner list: the pod itself', { name: 'debug', ownerReferences: [] }, { kind: 'Pod', name: 'debug' }],
    [
      'the controller reference wins over an earlier plain owner',
      {
        name: 'web-0',
        ownerReferences: [
          { kind: 'ConfigMap', name: 'settings' },
          { kind: 'StatefulSet', name: 'web', controller: true },
        ],
      },
      { kind: 'StatefulSet', name: 'web' },
    ],
    [
      'without a controller reference, the first owner',
      {
        name: 'x',
        ownerReferences: [
          { kind: 'DaemonSet', name: 'first', controller: false },
          { kind: 'Job', name: 'second' },
        ],
      },
      { kind: 'DaemonSet', name: 'first' },
    ],
  ])('%s', (_scenario, pod, expected) => {
    expect(workloadOf(pod)).toEqual(expected);
  });

  test('never throws, and always names a workload, whatever the metadata', () => {
    const text = fc.string({ maxLength: 30 });
    const owner = fc.record(
      {
        kind: fc.oneof(fc.constantFrom('ReplicaSet', 'Job', 'Node', 'StatefulSet', ''), text),
        name: text,
        controller: fc.boolean(),
      },
      { requiredKeys: ['kind', 'name'] },
    );
    fc.assert(
      fc.property(
        text,
        fc.option(fc.array(owner, { maxLength: 3 }), { nil: undefined }),
        fc.option(fc.dictionary(fc.constantFrom('pod-template-hash', 'app'), text), { nil: undefined }),
        (name, ownerReferences, labels) => {
          const workload = workloadOf({ name, ownerReferences, labels });
          expect(typeof workload.kind).toBe('string');
          expect(workload.kind.length).toBeGreaterThan(0);
          expect(workload.name.length).toBeGreaterThan(0);
        },
      ),
    );
  });
});
