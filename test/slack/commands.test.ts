// `/snat` text and button values → validated data, or a message saying what is wrong and what is accepted.
import { describe, expect, test } from '@jest/globals';
import { parseButtonValue, parseInvestigationId, parseSnatCommand } from '../../lib/slack/commands.ts';
import { investigationId } from '../../lib/workflow/instanceId.ts';
import { buttonValue, SANDBOX_CLUSTER } from './support.ts';

const ALIASES = ['prod', 'staging'];
const NODE = 'aks-nodepool1-31415926-vmss000001';

describe('parseSnatCommand', () => {
  test.each<[string, string, unknown]>([
    ['empty text is help', '', { kind: 'help' }],
    ['only spaces is help', '   ', { kind: 'help' }],
    ['help', 'help', { kind: 'help' }],
    ['diagnose alone: the channel’s cluster, the most exhausted node', 'diagnose', { kind: 'diagnose', seconds: 30 }],
    ['a known alias', 'diagnose prod', { kind: 'diagnose', alias: 'prod', seconds: 30 }],
    ['a single non-alias is a node', `diagnose ${NODE}`, { kind: 'diagnose', node: NODE, seconds: 30 }],
    ['a node IP', 'diagnose 10.224.0.5', { kind: 'diagnose', node: '10.224.0.5', seconds: 30 }],
    [
      'an IPv4-mapped IPv6 node is unwrapped',
      'diagnose ::ffff:10.224.0.5',
      { kind: 'diagnose', node: '10.224.0.5', seconds: 30 },
    ],
    ['alias and node', `diagnose prod ${NODE}`, { kind: 'diagnose', alias: 'prod', node: NODE, seconds: 30 }],
    ['--seconds N', 'diagnose prod --seconds 120', { kind: 'diagnose', alias: 'prod', seconds: 120 }],
    [
      '--seconds=N first',
      `diagnose --seconds=60 prod ${NODE}`,
      { kind: 'diagnose', alias: 'prod', node: NODE, seconds: 60 },
    ],
    [
      'tabs and repeated spaces separate',
      'diagnose\tprod   10.224.0.5',
      { kind: 'diagnose', alias: 'prod', node: '10.224.0.5', seconds: 30 },
    ],
    ['the verb in capitals', 'DIAGNOSE prod', { kind: 'diagnose', alias: 'prod', seconds: 30 }],
    ['status alone', 'status', { kind: 'status' }],
    [
      'status with an id',
      'status snat:rg-payments-prod:aks-prod:most-exhausted',
      { kind: 'status', instanceId: 'snat:rg-payments-prod:aks-prod:most-exhausted' },
    ],
  ])('%s', (_name, text, expected) => {
    expect(parseSnatCommand(text, ALIASES)).toEqual({ ok: true, value: expected });
  });

  // Each injection attempt, in each argument, is refused with a message naming the value and what is accepted.
  test.each<[string, string, RegExp]>([
    ['`;` in the node', 'diagnose prod node1;reboot', /node "node1;reboot" is not valid: give a node name/],
    ['`$(…)` in the node', 'diagnose prod $(id)', /node "\$\(id\)" is not valid/],
    ['backticks in the node', 'diagnose prod `id`', /node "`id`" is not valid/],
    ['quotes in the node', `diagnose prod "aks-node"`, /node "\\"aks-node\\"" is not valid/],
    ['`;` in the cluster', 'diagnose prod;id node1', /cluster "prod;id" is not valid: give a cluster alias/],
    ['`$(…)` in the cluster', 'diagnose $(id) node1', /cluster "\$\(id\)" is not valid/],
    ['backticks in the cluster', 'diagnose `id` node1', /cluster "`id`" is not valid/],
    ['quotes in the cluster', `diagnose 'prod' node1`, /cluster "'prod'" is not valid/],
    [
      '`;` in the seconds',
      'diagnose prod --seconds 30;id',
      /capture seconds "30;id" is not valid: use a whole number from 5 to 300/,
    ],
    ['`$(…)` in the seconds', 'diagnose prod --seconds=$(id)', /capture seconds "\$\(id\)" is not valid/],
    ['backticks in the seconds', 'diagnose prod --seconds `id`', /capture seconds "`id`" is not valid/],
    ['a hex number as seconds', 'diagnose prod --seconds 0x1e', /capture seconds "0x1e" is not valid/],
    [
      'seconds out of range',
      'diagnose prod --seconds 1000',
      /capture seconds "1000" is not valid: use a whole number from 5 to 300/,
    ],
    ['`;` in the instance id', 'status snat:rg:aks:node;id', /investigation id "snat:rg:aks:node;id" is not valid/],
    ['`$(…)` as the instance id', 'status $(id)', /investigation id "\$\(id\)" is not valid/],
    ['a path in the instance id', 'status snat:rg:aks:../../x', /investigation id .* is not valid/],
    ['an upper-case instance id', 'status snat:RG:aks:node1', /investigation id .* is not valid/],
    ['a newline between arguments', 'diagnose prod\nnode1', /line break or a control character; write it on one line/],
    ['a carriage return', 'diagnose prod\rnode1', /line break/],
    ['a Unicode line separator', 'diagnose prod\u2028node1', /line break/],
    ['a NUL byte', 'diagnose prod\u0000', /control character/],
    ['a very long value', `diagnose prod ${'a'.repeat(600)}`, /is 614 characters long; \/snat accepts at most 500/],
    ['a long node name', `diagnose prod ${'a'.repeat(300)}`, /node "a{80}"… \(300 characters\) is not valid/],
    ['an unknown option', 'diagnose prod --force', /Unknown option "--force": diagnose accepts --seconds N/],
    ['--seconds twice', 'diagnose --seconds 10 --seconds 20', /--seconds is given twice/],
    ['--seconds without a value', 'diagnose prod --seconds', /--seconds needs a number/],
    ['too many arguments', 'diagnose prod node1 node2', /at most a cluster and a node, not 3 arguments/],
    ['two status ids', 'status a b', /status takes at most one investigation id/],
    ['an unknown verb', 'reboot prod', /Unknown command "reboot": use `\/snat diagnose/],
  ])('refuses %s', (_name, text, message) => {
    const parsed = parseSnatCommand(text, ALIASES);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

describe('parseInvestigationId', () => {
  test.each<[string, string | undefined]>([
    ['the most exhausted node', undefined],
    ['a named node', NODE],
    ['an IPv4 node', '10.224.0.5'],
    ['an IPv6 node', 'fd00::5'],
  ])('accepts every id investigationId produces: %s', (_name, node) => {
    const id = investigationId(SANDBOX_CLUSTER, node);
    expect(parseInvestigationId(id)).toEqual({
      ok: true,
      value: { resourceGroup: 'rg-payments-prod', clusterName: 'aks-prod', ...(node ? { node } : {}) },
    });
  });
});

describe('parseButtonValue', () => {
  test('a value the renderer made', () => {
    expect(parseButtonValue(buttonValue())).toEqual({
      ok: true,
      value: { cluster: SANDBOX_CLUSTER, node: NODE, seconds: 30 },
    });
  });

  test.each<[string, string | undefined, RegExp]>([
    ['no value', undefined, /it is empty/],
    ['not JSON', '{cluster', /not JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['an extra field', buttonValue({ command: 'id' }), /unknown fields \("command"\)/],
    ['no cluster', JSON.stringify({ node: NODE, seconds: 30 }), /"cluster" must be/],
    [
      'an extra cluster field',
      buttonValue({ cluster: { ...SANDBOX_CLUSTER, kubeconfig: 'x' } }),
      /"cluster" has unknown fields/,
    ],
    ['shell text in the node', buttonValue({ node: 'n;reboot' }), /node "n;reboot" is not valid/],
    [
      '`$(…)` in the resource group',
      buttonValue({ cluster: { ...SANDBOX_CLUSTER, resourceGroup: '$(id)' } }),
      /resource group/,
    ],
    ['a bad subscription', buttonValue({ cluster: { ...SANDBOX_CLUSTER, subscriptionId: 'x' } }), /subscription id/],
    ['seconds as text', buttonValue({ seconds: '30' }), /"seconds" must be a number/],
    ['too many seconds', buttonValue({ seconds: 3000 }), /capture seconds "3000"/],
    ['a node that is a number', buttonValue({ node: 5 }), /"node" must be a string/],
    ['a value longer than Slack allows', buttonValue({ node: 'a'.repeat(2100) }), /longer than 2000 characters/],
  ])('refuses %s', (_name, value, message) => {
    const parsed = parseButtonValue(value);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});
