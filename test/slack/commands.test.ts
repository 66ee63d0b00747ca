// `/snat` text and button values → validated data, or a message saying what is wrong and what is accepted.
import { describe, expect, test } from '@jest/globals';
import { parseButtonValue, parseInvestigationId, parseSnatCommand } from '../../lib/slack/commands.ts';
import { newInvestigationId } from '../../lib/workflow/instanceId.ts';
import { buttonValue, SANDBOX_CLUSTER } from './support.ts';

const ALIASES = ['prod', 'staging'];
const NODE = 'aks-nodepool1-31415926-vmss000001';
const AT = new Date('2026-01-01T12:34:56.000Z');
/** An id as the start path makes them (lib/workflow/instanceId.ts). */
const ID = newInvestigationId(SANDBOX_CLUSTER, NODE, AT, 'abc123');

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
    ['status with an id', `status ${ID}`, { kind: 'status', instanceId: ID }],
    ['status with a node name: its investigations', `status ${NODE}`, { kind: 'history', node: NODE }],
    ['status with a cluster and a node name', `status prod ${NODE}`, { kind: 'history', alias: 'prod', node: NODE }],
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
    ['`$(…)` in the instance id', 'status snat:$(id)', /investigation id "snat:\$\(id\)" is not valid/],
    ['`$(…)` as the status node', 'status $(id)', /node "\$\(id\)" is not valid/],
    ['`;` in the status node', `status prod ${NODE};id`, /node ".*;id" is not valid/],
    ['`;` in the status cluster', `status prod;id ${NODE}`, /cluster "prod;id" is not valid/],
    ['a path in the instance id', 'status snat:rg:aks:../../x', /investigation id .* is not valid/],
    [
      'an upper-case instance id',
      `status ${ID.replace('aks-prod', 'AKS-PROD')}`,
      /investigation id .* is not valid: ids are lower-case/,
    ],
    [
      'an id of the old deterministic shape, which no investigation has any more',
      'status snat:rg-payments-prod:aks-prod:most-exhausted',
      /investigation id .* is not valid: expected snat:\{subscription\}/,
    ],
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
    ['three status arguments', 'status a b c', /status takes an investigation id, or a cluster and a node/],
    ['a status cluster without its node', 'status prod', /`prod` is a cluster: give its node too/],
    ['an unknown verb', 'reboot prod', /Unknown command "reboot": use `\/snat diagnose/],
  ])('refuses %s', (_name, text, message) => {
    const parsed = parseSnatCommand(text, ALIASES);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

// Issue 14: a node's registry is kept by its name, so a node's investigations are listed by name only.
describe('/snat status [cluster] <node-name> (issue 14: a node’s running and past investigations)', () => {
  test.each([
    ['an IPv4 node', 'status 10.224.0.5', '10.224.0.5'],
    ['an IPv4 node after a cluster', 'status prod 10.224.0.5', '10.224.0.5'],
    ['an IPv6 node', 'status prod fd00::5', 'fd00::5'],
  ])('refuses %s: registries are kept by node name', (_name, text, ip) => {
    const parsed = parseSnatCommand(text, ALIASES);
    expect(parsed).toEqual({
      ok: false,
      message: expect.stringContaining(`"${ip}" is an IP: a node's investigations are kept by its name`),
    });
  });
});

describe('parseInvestigationId', () => {
  test.each<[string, string | undefined]>([
    ['the most exhausted node', undefined],
    ['a named node', NODE],
    ['an IPv4 node', '10.224.0.5'],
    ['an IPv6 node', 'fd00::5'],
    ['a node name too long to fit (kept as a digest)', [...Array(3).fill('a'.repeat(63)), 'b'.repeat(61)].join('.')],
  ])('accepts every id newInvestigationId produces: %s', (_name, node) => {
    const id = newInvestigationId(SANDBOX_CLUSTER, node, AT, '0f9e8d');
    expect(parseInvestigationId(id)).toEqual({ ok: true, value: id });
  });

  test('the id says nothing it is trusted for: it is only checked for its shape', () => {
    // Another subscription's id parses just as well: who may read it is decided by the instance's own cluster.
    const elsewhere = newInvestigationId(
      { ...SANDBOX_CLUSTER, subscriptionId: '99999999-9999-9999-9999-999999999999' },
      NODE,
      AT,
      'abc123',
    );
    expect(parseInvestigationId(elsewhere)).toEqual({ ok: true, value: elsewhere });
  });

  test.each([
    ['no time and nonce (the old deterministic id)', 'snat:rg-payments-prod:aks-prod:most-exhausted'],
    ['a nonce that is not hex', ID.replace('abc123', 'abcxyz')],
    ['shell text in the node', `${ID};reboot`],
    ['a path in the node', ID.replace(NODE, '../../x')],
    ['upper case', ID.replace('aks-prod', 'AKS-PROD')],
    ['more than 256 characters', `${ID}${'a'.repeat(256)}`],
  ])('refuses %s', (_name, id) => {
    expect(parseInvestigationId(id)).toEqual({
      ok: false,
      message: expect.stringMatching(/^investigation id .* is not valid/),
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
