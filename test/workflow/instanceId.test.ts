import { describe, expect, test } from '@jest/globals';
import {
  checkInvestigationId,
  INSTANCE_ID_MAX,
  newInvestigationId,
  nodeKey,
  randomNonce,
} from '../../lib/workflow/instanceId.ts';

const PROD = { subscriptionId: '11111111-1111-1111-1111-111111111111', resourceGroup: 'RG-Prod', name: 'AKS-1' };
const STAGING = { ...PROD, subscriptionId: '22222222-2222-2222-2222-222222222222' };
const AT = new Date('2026-03-01T12:34:56.789Z');

describe('investigation ids', () => {
  test('an id names the subscription, group, cluster, time and node, lower-case, and passes the check', () => {
    const id = newInvestigationId(PROD, 'aks-nodepool1-1-vmss000001', AT, '0a1b2c');
    expect(id).toBe(
      'snat:11111111-1111-1111-1111-111111111111:rg-prod:aks-1:20260301t123456z-0a1b2c:aks-nodepool1-1-vmss000001',
    );
    expect(checkInvestigationId(id)).toBe(id);
  });

  // Issue 14, item 4: the same group and cluster name in two subscriptions shared instance ids.
  test('two clusters with the same group and name in different subscriptions never share an id or a node key', () => {
    expect(newInvestigationId(PROD, undefined, AT, '000000')).not.toBe(
      newInvestigationId(STAGING, undefined, AT, '000000'),
    );
    expect(nodeKey(PROD, 'n1')).not.toBe(nodeKey(STAGING, 'n1'));
  });

  // Issue 14, item 5: a re-run reused the id and replaced the first run's history.
  test('a re-run of one node is a new id; so is a start in the same second from another starter', () => {
    const first = newInvestigationId(PROD, 'n1', AT, randomNonce());
    const rerun = newInvestigationId(PROD, 'n1', new Date(AT.getTime() + 60_000), randomNonce());
    expect(rerun).not.toBe(first);
    expect(newInvestigationId(PROD, 'n1', AT, 'aaaaaa')).not.toBe(newInvestigationId(PROD, 'n1', AT, 'bbbbbb'));
  });

  test('an IPv6 node (colons of its own) and "most exhausted" pass the check', () => {
    for (const node of ['fd00::5', undefined]) {
      const id = newInvestigationId(PROD, node, AT, randomNonce());
      expect(checkInvestigationId(id)).toBe(id);
    }
  });

  test(`the longest names still make an id of at most ${INSTANCE_ID_MAX} characters that passes the check`, () => {
    const longest = { subscriptionId: PROD.subscriptionId, resourceGroup: 'g'.repeat(90), name: 'c'.repeat(63) };
    const node = `${'n'.repeat(63)}.${'m'.repeat(63)}`;
    const id = newInvestigationId(longest, node, AT, '123456');
    expect(id.length).toBeLessThanOrEqual(INSTANCE_ID_MAX);
    expect(checkInvestigationId(id)).toBe(id);
    expect(newInvestigationId(longest, node, AT, '123456')).toBe(id);
  });

  test.each([
    ['an old-style id', 'snat:rg-prod:aks-1:most-exhausted'],
    ['upper case', 'snat:11111111-1111-1111-1111-111111111111:RG-PROD:aks-1:20260301t123456z-0a1b2c:n1'],
    ['a path', 'snat:11111111-1111-1111-1111-111111111111:rg:aks-1:20260301t123456z-0a1b2c:../x'],
    ['a query', 'snat:11111111-1111-1111-1111-111111111111:rg:aks-1:20260301t123456z-0a1b2c:n1?x=1'],
    ['a bad subscription', 'snat:1111:rg:aks-1:20260301t123456z-0a1b2c:n1'],
    ['a control character', 'snat:11111111-1111-1111-1111-111111111111:rg:aks-1:20260301t123456z-0a1b2c:n1\n'],
    ['too long', `snat:${'a'.repeat(300)}`],
  ])('%s is refused', (_name, id) => {
    expect(() => checkInvestigationId(id)).toThrow(/investigation id .* is not valid/);
  });
});
