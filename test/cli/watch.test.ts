// `snat-doctor watch --once`: in-process on the sandbox (served over HTTPS, real SDK clients) for the output's shape,
// and once through the real binary as a user runs it.
import { execFile } from 'node:child_process';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { stringify } from 'yaml';
import { type WatchCommandOptions, watch } from '../../lib/cli/watch.ts';
import { defaultScenarioDocument } from '../support/scenarios.ts';

const EXHAUSTED = 'aks-nodepool1-31415926-vmss000001';
/** The exhausted node's investigation: an id of its own (its time and nonce are the start's). */
const ID_SHAPE = new RegExp(
  `snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:\\d{8}t\\d{6}z-[0-9a-f]{6}:${EXHAUSTED}`,
);
const ID = expect.stringMatching(new RegExp(`^${ID_SHAPE.source}$`));

async function run(options: Partial<WatchCommandOptions>) {
  let stdout = '';
  let stderr = '';
  const code = await watch(
    // No memory between the tests' runs unless a test gives a state file.
    { once: true, start: true, state: 'none', ...options },
    {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      latency: false,
    },
  );
  return { code, stdout, stderr };
}

async function scenarioFile(edit: (doc: Record<string, unknown>) => void): Promise<string> {
  const doc = defaultScenarioDocument();
  edit(doc);
  const file = join(await mkdtemp(join(tmpdir(), 'snat-doctor-watch-')), 'scenario.yaml');
  await writeFile(file, stringify(doc));
  return file;
}

describe('snat-doctor watch (in-process)', () => {
  test('--json: every node with its standing and action, and the investigation started (run to its end)', async () => {
    const { code, stdout } = await run({ json: true });
    expect(code).toBe(0);
    const tick = JSON.parse(stdout);
    expect(tick.nodes).toHaveLength(3);
    for (const node of tick.nodes) {
      expect(Object.keys(node)).toEqual(
        expect.arrayContaining(['cluster', 'name', 'usedPorts', 'allocatedPorts', 'failedConnections', 'action']),
      );
    }
    expect(tick.nodes.find((n: { name: string }) => n.name === EXHAUSTED)).toMatchObject({
      cluster: { resourceGroup: 'rg-payments-prod', name: 'aks-prod' },
      usedPorts: 1016,
      allocatedPorts: 1024,
      failedConnections: 240,
      action: 'started',
      instanceId: ID,
    });
    expect(tick.nodes.filter((n: { action: string }) => n.action === 'ok')).toHaveLength(2);
    expect(tick.started).toEqual([
      {
        instanceId: ID,
        cluster: expect.objectContaining({ name: 'aks-prod' }),
        node: EXHAUSTED,
        runtimeStatus: 'Completed',
        culprit: expect.objectContaining({ namespace: 'payments', pod: expect.stringMatching(/^checkout-api-/) }),
      },
    ]);
    expect(tick.started[0].instanceId).toBe(tick.nodes.find((n: { name: string }) => n.name === EXHAUSTED).instanceId);
    expect(tick.unsupported).toEqual([]);
    expect(tick.errors).toEqual([]);
  });

  test('the table: every node, used/allocated, %, failed, action; then the investigation and its culprit', async () => {
    const { code, stdout } = await run({});
    expect(code).toBe(0);
    expect(stdout).toMatch(/Cluster .*Node .*Used \/ allocated .*% .*Failed .*Action/);
    expect(stdout).toMatch(
      new RegExp(`rg-payments-prod/aks-prod .*${EXHAUSTED} .*1016 / 1024 .*99\\.2 % .*240 .*started`),
    );
    expect(stdout).toMatch(/vmss000000 .* ok/);
    expect(stdout).toMatch(new RegExp(`\\n {2}${ID_SHAPE.source}\\n`));
    expect(stdout).toMatch(/culprit payments\/checkout-api-/);
  });

  test('--no-start reports only', async () => {
    const { code, stdout } = await run({ json: true, start: false });
    expect(code).toBe(0);
    const tick = JSON.parse(stdout);
    expect(tick.started).toEqual([]);
    expect(tick.nodes.find((n: { name: string }) => n.name === EXHAUSTED).action).toBe('investigate');
  });

  test('a NAT gateway cluster is watched at its gateway: a "NAT gateways" section with the finding and its advice', async () => {
    const file = await scenarioFile((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'managedNATGateway',
        natGateway: { failedConnections: 64, droppedPackets: 5, totalConnections: 1200 },
      });
    });
    const { code, stdout } = await run({ sandbox: file });
    expect(code).toBe(0);
    expect(stdout).toMatch(/No node was watched: behind a NAT gateway the watch reads the gateway/);
    expect(stdout).toContain(
      '\nNAT gateways\n  NAT gateway nat-aks-prod of cluster rg-payments-prod/aks-prod: 64 failed SNAT connections, 5 dropped packets in the last 5 minutes (1,200 active connections).\n',
    );
    expect(stdout).toMatch(/no per-node dimension.*started no investigation: there is no node to pick/);
    expect(stdout).toContain(
      '    az aks update --resource-group rg-payments-prod --name aks-prod --nat-gateway-managed-outbound-ip-count 2\n',
    );
    expect(stdout).not.toContain('Clusters without a per-node SNAT metric');
    expect(stdout).not.toContain('Investigations started');
  });

  test('--json: the gateway with its metrics and decision; nothing unsupported, nothing started', async () => {
    const file = await scenarioFile((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'userAssignedNATGateway',
        vnet: { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] },
        natGateway: { totalConnections: 300 },
      });
    });
    const { code, stdout } = await run({ sandbox: file, json: true });
    expect(code).toBe(0);
    const tick = JSON.parse(stdout);
    expect(tick.gateways).toEqual([
      expect.objectContaining({
        cluster: expect.objectContaining({ name: 'aks-prod' }),
        outboundType: 'userAssignedNATGateway',
        gatewayId: expect.stringMatching(
          /\/resourceGroups\/rg-network\/providers\/Microsoft\.Network\/natGateways\/nat-aks-prod$/,
        ),
        failedConnections: 0,
        totalConnections: 300,
        droppedPackets: 0,
        decision: 'ok',
      }),
    ]);
    expect(tick.unsupported).toEqual([]);
    expect(tick.started).toEqual([]);
  });

  test('a NAT gateway cluster whose gateway cannot be found is still said to be unwatched, with the reason', async () => {
    const file = await scenarioFile((doc) => {
      (doc.cluster as Record<string, unknown>).outboundType = 'managedNATGateway';
      doc.faults = [{ target: 'arm.getPublicIpAddress', error: 'forbidden' }];
    });
    const { code, stdout } = await run({ sandbox: file });
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /Clusters without a per-node SNAT metric\n {2}rg-payments-prod\/aks-prod \(managedNATGateway\): The cluster's NAT gateway was not found.*publicIPAddresses\/read/,
    );
    expect(stdout).not.toContain('NAT gateways\n');
  });

  test('without --once it says that --once is required', async () => {
    const { code, stderr } = await run({ once: false });
    expect(code).toBe(2);
    expect(stderr).toMatch(/watch needs --once/);
  });

  test('a broken scenario file: exit 2 and the field named', async () => {
    const file = await scenarioFile((doc) => {
      (doc.cluster as Record<string, unknown>).location = 'West Europe';
    });
    const { code, stderr } = await run({ sandbox: file });
    expect(code).toBe(2);
    expect(stderr).toMatch(/cluster\.location/);
  });
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'snat-doctor.js');
/** What the watch command is made of: a bundle older than any of these predates the command's current code. */
const SOURCES = [
  'lib/cli/main.ts',
  'lib/cli/watch.ts',
  'lib/watch/policy.ts',
  'lib/config.ts',
  'lib/watch/startOnce.ts',
  'lib/watch/summary.ts',
  'lib/watch/tick.ts',
  'lib/watch/natGateway.ts',
  'lib/workflow/instanceId.ts',
  'lib/workflow/nodeRegistry.ts',
  'lib/workflow/start.ts',
  'lib/watch/drift.ts',
  'lib/watch/trend.ts',
  'lib/watch/memory.ts',
  'lib/cli/watchState.ts',
];

describe('snat-doctor watch (the binary)', () => {
  beforeAll(async () => {
    // `npm test` builds first (pretest); when jest is run alone after an edit, the bundle is rebuilt here.
    const built = await stat(join(ROOT, 'dist', 'cli.js')).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    const newest = Math.max(...(await Promise.all(SOURCES.map(async (f) => (await stat(join(ROOT, f))).mtimeMs))));
    if (built < newest) await promisify(execFile)(process.execPath, [join(ROOT, 'tools', 'build.mjs')], { cwd: ROOT });
  });

  test('watch --once --json prints the tick', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'watch', '--once', '--json'], {
      env: { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: await mkdtemp(join(tmpdir(), 'snat-doctor-state-')) },
    });
    const tick = JSON.parse(stdout);
    expect(tick.nodes.map((n: { action: string }) => n.action)).toEqual(['ok', 'started', 'ok']);
    expect(tick.started).toEqual([expect.objectContaining({ instanceId: ID, node: EXHAUSTED })]);
  });

  // Issue 15's acceptance: run twice on a sandbox whose allocation drops between the runs, the drift is reported
  // once, with the fix; the next run does not repeat it.
  test('run twice, the allocation dropping in between: the drift is told once, with the command that restores it', async () => {
    const state = await mkdtemp(join(tmpdir(), 'snat-doctor-state-'));
    const dropped = await scenarioFile((doc) => {
      const node = (doc.nodes as Record<string, unknown>[])[0] as Record<string, unknown>;
      node.snat = { ...(node.snat as Record<string, unknown>), usedPorts: 40, allocatedPorts: 512 };
    });
    const watchOnce = async (...scenario: string[]) =>
      (
        await promisify(execFile)(process.execPath, [BIN, 'watch', '--once', '--no-start', ...scenario], {
          env: { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: state },
        })
      ).stdout;
    const first = await watchOnce();
    const second = await watchOnce('--sandbox', dropped);
    const third = await watchOnce('--sandbox', dropped);
    expect(first).not.toContain('SNAT allocation changed');
    expect(second).toContain('SNAT allocation changed');
    expect(second).toContain(
      "Node aks-nodepool1-31415926-vmss000000 dropped from 1024 to 512 SNAT ports but Azure's default for a pool of 3 nodes is 1024.",
    );
    expect(second).toContain(
      'az aks update --resource-group rg-payments-prod --name aks-prod --load-balancer-outbound-ports 1024',
    );
    expect(third).not.toContain('SNAT allocation changed');
    expect(third).toContain(
      'Allocation still not as configured (told before): aks-nodepool1-31415926-vmss000000 512/1024',
    );
  });

  test('watch without --once exits 2 with the reason', async () => {
    const failed = await promisify(execFile)(process.execPath, [BIN, 'watch']).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/watch needs --once/);
  });
});
