import { describe, expect, test } from '@jest/globals';
import { SnatDoctorError } from '../lib/errors.ts';
import {
  parseNodeSelector,
  validateCaptureSeconds,
  validateClusterName,
  validateResourceGroup,
  validateSubscriptionId,
} from '../lib/validation.ts';
import { nodeKey } from '../lib/workflow/instanceId.ts';

const INJECTIONS = ['a;reboot', '$(id)', '`id`', "a' || '1", 'a"b', 'a\nb', 'a b', '../etc', 'a|b', 'a&b', 'a>b', ''];

describe('strict patterns for everything that reaches a node or a command', () => {
  test.each(INJECTIONS)('node %j is refused with a message saying what is accepted', (value) => {
    expect(() => parseNodeSelector(value)).toThrow(SnatDoctorError);
    expect(() => parseNodeSelector(value)).toThrow(/node name as `kubectl get nodes` shows it/);
  });
  test.each(INJECTIONS)('cluster name %j is refused', (value) => {
    expect(() => validateClusterName(value)).toThrow(/cluster name .* is not valid/);
  });
  test.each(INJECTIONS)('resource group %j is refused', (value) => {
    expect(() => validateResourceGroup(value)).toThrow(/resource group .* is not valid/);
  });

  test('a very long value is shown truncated, with its length', () => {
    expect(() => parseNodeSelector('a'.repeat(300))).toThrow(/… \(300 characters\)/);
  });

  test.each([
    ['aks-nodepool1-31415926-vmss000001', { kind: 'name', name: 'aks-nodepool1-31415926-vmss000001' }],
    ['10.224.0.5', { kind: 'ip', ip: '10.224.0.5' }],
    ['::ffff:10.224.0.5', { kind: 'ip', ip: '10.224.0.5' }],
    ['fd00::5', { kind: 'ip', ip: 'fd00::5' }],
    ['node.example.internal', { kind: 'name', name: 'node.example.internal' }],
  ])('node %s is accepted', (value, expected) => {
    expect(parseNodeSelector(value)).toEqual(expected);
  });

  // Issue 14: ten spellings of one node started ten investigations, each with its own probe on it.
  test.each(['10.224.5', '0xa.224.0.5', '012.224.0.5', '167772165', '10.224.000.5', 'fe80::1%eth0'])(
    'node %j, an IP in a form other than its one spelling, is refused saying how to write it',
    (value) => {
      expect(() => parseNodeSelector(value)).toThrow(/dotted decimal, like 10\.224\.0\.5/);
    },
  );

  test('every accepted spelling of one node is one node key', () => {
    const cluster = { subscriptionId: 'x', resourceGroup: 'rg-payments-prod', name: 'aks-prod' };
    const keys = ['10.224.0.5', '::ffff:10.224.0.5', '::ffff:ae0:5', '0:0:0:0:0:ffff:0ae0:5'].map((node) =>
      nodeKey(cluster, node),
    );
    expect(new Set(keys)).toEqual(new Set(['x:rg-payments-prod:aks-prod:10.224.0.5']));
    expect(nodeKey(cluster, 'FD00:0:0::5')).toBe(nodeKey(cluster, 'fd00::5'));
  });

  test.each(['Aks-Node', 'node_1', '-node', 'node-'])('node name %j breaks the DNS-subdomain rule', (value) => {
    expect(() => parseNodeSelector(value)).toThrow(SnatDoctorError);
  });

  test('subscription ids are GUIDs, normalised to lower case', () => {
    expect(validateSubscriptionId('ABCDEF00-0000-0000-0000-000000000000')).toBe('abcdef00-0000-0000-0000-000000000000');
    expect(() => validateSubscriptionId('not-a-guid')).toThrow(/expected a GUID/);
  });

  test.each([
    [4, false],
    [5, true],
    [300, true],
    [301, false],
    [30.5, false],
  ])('capture seconds %d accepted: %s', (value, ok) => {
    if (ok) expect(validateCaptureSeconds(value)).toBe(value);
    else expect(() => validateCaptureSeconds(value)).toThrow(/from 5 to 300/);
  });
});
