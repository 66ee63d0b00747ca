// One pod's examination by exec (podConnections): what it reports when the pod's socket tables come back whole, cut
// short, or partly unreadable (issue 14: a cut output undercounted a pod while the step "succeeded" with no note).
import { describe, expect, test } from '@jest/globals';
import type { CandidatePod } from '../../lib/model.ts';
import type { ExecResult, Ports } from '../../lib/ports.ts';
import { examinePod } from '../../lib/workflow/steps/podConnections.ts';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const UDP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n';
/** `n` ESTABLISHED sockets to 20.50.2.10:443 (0A32140A is 10.20.50.2 byte-reversed: use the real order). */
function rows(n: number): string {
  // 20.50.2.10 is 0x14 0x32 0x02 0x0A; /proc prints the network-order word on a little-endian host: 0A023214.
  return Array.from(
    { length: n },
    (_, i) =>
      `${String(i).padStart(4)}: 0500E00A:${(40000 + i).toString(16).toUpperCase().padStart(4, '0')} 0A023214:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 ${1000 + i} 1 0000000000000000 20 4 30 10 -1\n`,
  ).join('');
}
const WHOLE = `${HEADER}${rows(905)}${HEADER}${UDP_HEADER}${UDP_HEADER}`;

const pod: CandidatePod = {
  namespace: 'payments',
  name: 'checkout-api-7d9f8b6c5d-x2x9k',
  hostNetwork: false,
  os: 'linux',
  phase: 'Running',
  containers: [{ name: 'app' }],
  sockets: [],
  trace: [],
} as unknown as CandidatePod;

function portsAnswering(result: ExecResult): Ports {
  return { kubernetes: () => ({ exec: async () => result }) } as unknown as Ports;
}

const input = { cluster: { subscriptionId: 's', resourceGroup: 'g', name: 'c' }, pod, privateRanges: [] };

describe('examinePod by exec', () => {
  test('whole tables: every connection counted, no note', async () => {
    const result = await examinePod(input, portsAnswering({ stdout: WHOLE, stderr: '', exitCode: 0 }));
    expect(result.publicEstablished).toBe(905);
    expect(result.incomplete).toBeUndefined();
    expect(result.note).toBeUndefined();
  });

  test('an output cut in the middle (as the sandbox cuts it: half its bytes) is marked incomplete, saying why', async () => {
    const cut = WHOLE.slice(0, Math.floor(WHOLE.length / 2));
    const result = await examinePod(input, portsAnswering({ stdout: cut, stderr: '', exitCode: 0 }));
    expect(result.publicEstablished).toBeLessThan(905);
    expect(result.incomplete).toBe(true);
    expect(result.note).toMatch(
      /looks cut short \(its last line ends without a newline\): this pod's counts may be low/,
    );
  });

  test('an output cut at a row boundary is caught by its missing tables', async () => {
    const cut = `${HEADER}${rows(481)}`;
    const result = await examinePod(input, portsAnswering({ stdout: cut, stderr: '', exitCode: 0 }));
    expect(result.incomplete).toBe(true);
    expect(result.note).toMatch(/1 of its 4 tables/);
  });

  test('a table cat could not read (no IPv6 in the kernel) is not a cut', async () => {
    const noV6 = `${HEADER}${rows(3)}${UDP_HEADER}`;
    const stderr = 'cat: /proc/net/tcp6: No such file or directory\ncat: /proc/net/udp6: No such file or directory\n';
    const result = await examinePod(input, portsAnswering({ stdout: noV6, stderr, exitCode: 1 }));
    expect(result.publicEstablished).toBe(3);
    expect(result.incomplete).toBeUndefined();
  });
});
