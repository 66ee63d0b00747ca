// `diagnose` on a NAT gateway cluster surveyed without a node (issue 15): the command that investigates each other
// node holding the hot endpoint, printed after the report (nextNodeCommands), and the real CLI printing it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import { nextNodeCommands } from '../../lib/cli/diagnose.ts';
import type { NatSurvey, Report } from '../../lib/model.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const DEFAULT_SCENARIO = fileURLToPath(new URL('../../lib/sandbox/scenarios/default.yaml', import.meta.url));

function surveyed(nodes: { name: string; connections: number }[]): Report {
  const survey: NatSurvey = {
    destination: { ip: '20.50.2.10', port: 443, connections: nodes.reduce((sum, n) => sum + n.connections, 0) },
    nodes,
    pods: [],
    nodesSurveyed: nodes.length,
    podsRead: 1,
    podsUnread: 0,
    unreadSamples: [],
    podsLeft: 0,
    hostNetworkPods: 0,
  };
  return { node: { name: 'n1', ip: '10.224.0.4', os: 'linux' }, survey } as Report;
}

describe('nextNodeCommands', () => {
  test('the other nodes, most connections first, at most 3; the investigated one left out', () => {
    const report = surveyed([
      { name: 'n1', connections: 700 },
      { name: 'n2', connections: 50 },
      { name: 'n3', connections: 20 },
      { name: 'n4', connections: 10 },
      { name: 'n5', connections: 5 },
    ]);
    expect(nextNodeCommands(report, ['diagnose', '--seconds', '30'])).toEqual([
      'snat-doctor diagnose --seconds 30 --node n2   # 50 connection(s) to 20.50.2.10:443',
      'snat-doctor diagnose --seconds 30 --node n3   # 20 connection(s) to 20.50.2.10:443',
      'snat-doctor diagnose --seconds 30 --node n4   # 10 connection(s) to 20.50.2.10:443',
    ]);
  });

  test('arguments are quoted for a shell and printed without terminal controls', () => {
    const [line] = nextNodeCommands(surveyed([{ name: 'n2', connections: 1 }]), [
      'diagnose',
      '--sandbox',
      "/tmp/my scenario's.yaml",
      '--private-range',
      '30.10.0.0/16\u001b[2J',
    ]);
    expect(line).toBe(
      `snat-doctor diagnose --sandbox '/tmp/my scenario'\\''s.yaml' --private-range '30.10.0.0/16\\u001b[2J' --node n2   # 1 connection(s) to 20.50.2.10:443`,
    );
  });

  test('nothing without a survey, or when the survey found no hot endpoint', () => {
    expect(nextNodeCommands({ node: { name: 'n1' } } as Report, ['diagnose'])).toEqual([]);
    const none = surveyed([]);
    delete none.survey?.destination;
    expect(nextNodeCommands(none, ['diagnose'])).toEqual([]);
  });
});

describe('snat-doctor diagnose on a NAT gateway cluster', () => {
  test('prints, after the report, the command for the next node holding the hot endpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snat-doctor-nat-'));
    const file = join(dir, 'nat.yaml');
    const scenario = (await readFile(DEFAULT_SCENARIO, 'utf8')).replace(
      'outboundType: loadBalancer',
      'outboundType: managedNATGateway',
    );
    expect(scenario).toContain('managedNATGateway');
    await writeFile(file, scenario);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [BIN, 'diagnose', '--sandbox', file, '--seconds', '5', '--no-progress'],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(stdout).toContain('Node     aks-nodepool1-31415926-vmss000001');
    expect(stdout).toContain(
      `Next: the other nodes holding 20.50.2.10:443, one investigation each:\n  snat-doctor diagnose --sandbox ${file} --seconds 5 --no-progress --node aks-nodepool1-31415926-vmss000002   # 48 connection(s) to 20.50.2.10:443\n`,
    );
  });
});
