// `snat-doctor analyze` on the runbook's hand-captured evidence: fixtures that join (tcptracer NETNS = lsns NS = the
// netns of crictl inspectp's path), output captured from the real tools on this machine, a generated capture read by
// the built CLI's WebAssembly reader, and bad arguments.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { writeTcptracerCapture } from '../../bench/generateTcptracer.ts';
import { analyzeEvidence } from '../../lib/analysis/analyzeEvidence.ts';
import { summarizeTcptracerFileJs } from '../../lib/evidence/tcptracer.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/runbook/${name}`, import.meta.url));
const CHECKOUT = 'payments/checkout-api-7d9f8b6c5d-x2x9k';

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the runbook evidence, joined', () => {
  const all = {
    tcptracer: fixture('trace.txt'),
    lsns: fixture('lsns.json'),
    crictl: [fixture('pods.json'), fixture('inspectp.json')],
    netstat: [`${CHECKOUT}=${fixture('checkout.netstat')}`],
    top: 15,
  };

  test('tcptracer alone: the runbook count by SADDR and NETNS, no pods', async () => {
    const result = await analyzeEvidence({ tcptracer: all.tcptracer, top: 15 });
    expect(result.events).toBe(7);
    expect(result.bySource[0]).toEqual({
      saddr: '10.244.0.153',
      netns: 4026532785,
      connects: 4,
      accepts: 0,
      closes: 1,
    });
    expect(result.culprits).toEqual([]);
    expect(result.notes.join(' ')).toMatch(/No pod is known/);
  });

  test('with lsns and crictl, each namespace is named by its pod', async () => {
    const { bySource } = await analyzeEvidence({ ...all, netstat: [] });
    expect(bySource.map((s) => [s.netns, s.pod])).toEqual([
      [4026532785, CHECKOUT],
      [4026531840, undefined],
      [4026532799, 'web/frontend-5c7b9d8f4-pnsvq'],
    ]);
  });

  test("with the pod's netstat, it is ranked by public ESTABLISHED, churn from the trace, TIME_WAIT", async () => {
    const result = await analyzeEvidence(all);
    expect(result.seconds).toBe(9);
    expect(result.culprits).toHaveLength(1);
    expect(result.culprits[0]).toMatchObject({
      rank: 1,
      namespace: 'payments',
      pod: 'checkout-api-7d9f8b6c5d-x2x9k',
      publicEstablished: 3,
      publicConnects: 4,
      connectsPerSecond: 0.4,
      timeWait: 1,
      source: 'exec-netstat',
      topDestinations: [
        { ip: '20.50.2.10', port: 443, connections: 2 },
        { ip: '20.50.2.11', port: 443, connections: 1 },
      ],
    });
    expect(result.skipped).toBe(1);
    expect(result.inputs.find((i) => i.kind === 'netstat')?.skippedSamples).toEqual(['this is not a netstat line']);
  });

  test('--json prints events, skipped, bySource and culprits', async () => {
    const { code, stdout } = await run(
      'analyze',
      '--json',
      '--tcptracer',
      all.tcptracer,
      '--lsns',
      all.lsns,
      '--crictl',
      fixture('pods.json'),
      '--crictl',
      fixture('inspectp.json'),
      '--netstat',
      all.netstat[0]!,
    );
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json).toMatchObject({ events: 7, skipped: 1 });
    expect(json.bySource[0]).toMatchObject({ saddr: '10.244.0.153', netns: 4026532785, connects: 4, closes: 1 });
    expect(json.culprits[0]).toMatchObject({ namespace: 'payments', publicEstablished: 3 });
  });
});

describe('a capture with more destinations than are kept', () => {
  // One source to 130 destinations (destination i met i + 1 times): its 100 busiest are kept per destination.
  const CONNECTS = (130 * 131) / 2;
  async function capture(): Promise<string> {
    const line = (i: number): string =>
      `0             connect      100    curl             4  10.244.1.23      ${`20.0.0.${i}`.padEnd(16)} 40000  443    4026532785`;
    const lines = Array.from({ length: 130 }, (_, i) => Array.from({ length: i + 1 }, () => line(i))).flat();
    const path = join(await mkdtemp(join(tmpdir(), 'analyze-cut-')), 'trace.txt');
    await writeFile(path, `${lines.join('\n')}\n`);
    return path;
  }

  test('with pods to tie sources to, the note says how many connects count in the totals only; totals stay exact', async () => {
    const result = await analyzeEvidence({
      tcptracer: await capture(),
      lsns: fixture('lsns.json'),
      crictl: [fixture('pods.json'), fixture('inspectp.json')],
      top: 5,
    });
    expect(result.bySource).toEqual([
      { saddr: '10.244.1.23', netns: 4026532785, connects: CONNECTS, accepts: 0, closes: 0, pod: CHECKOUT },
    ]);
    const left = (30 * 31) / 2; // destinations 0–29, met 1 to 30 times
    expect(result.notes).toContain(
      `Per destination, each source's 100 busiest are kept: ${left} connect(s) to others count in the sources' totals only.`,
    );
  });

  test('with no pod to tie a source to, no rows are counted: the exact totals, and no note on destinations', async () => {
    const result = await analyzeEvidence({ tcptracer: await capture(), top: 5 });
    expect(result.bySource).toEqual([
      { saddr: '10.244.1.23', netns: 4026532785, connects: CONNECTS, accepts: 0, closes: 0 },
    ]);
    expect(result.notes.join(' ')).not.toMatch(/Per destination/);
    expect(result.notes.join(' ')).toMatch(/No pod is known/);
  });
});

describe("the built CLI's tcptracer reader (WebAssembly, in the bundle)", () => {
  test('loads from its chunk (else analyze would fall back to the JS reader without a word)', async () => {
    const chunks = fileURLToPath(new URL('../../dist/chunks/', import.meta.url));
    const chunk = readdirSync(chunks).find((file) => /^tcptracerWasm-\w+\.js$/.test(file));
    expect(chunk).toBeDefined();
    const bundled: typeof import('../../lib/evidence/tcptracerWasm.ts') = await import(
      pathToFileURL(join(chunks, chunk!)).href
    );
    expect(() => bundled.loadTcptracerWasmReader()).not.toThrow();
  });

  test('analyze --json on a generated 20,000-event capture counts what the JS reader counts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'analyze-wasm-'));
    try {
      const path = join(dir, 'trace.txt');
      await writeTcptracerCapture(path, 20_000, 5);
      const { code, stdout } = await run('analyze', '--json', '--tcptracer', path);
      expect(code).toBe(0);
      const js = await summarizeTcptracerFileJs(path);
      const json = JSON.parse(stdout);
      expect(json).toMatchObject({ events: js.events, skipped: js.skipped });
      const key = (s: { saddr: string; netns?: number }): string => `${s.saddr} ${s.netns ?? 0}`;
      const totals = (
        sources: { saddr: string; netns?: number; connects: number; accepts: number; closes: number }[],
      ) => sources.map((s) => [key(s), s.connects, s.accepts, s.closes]).sort();
      expect(totals(json.bySource)).toEqual(totals(js.bySource));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('start-up: analyze of a capture loads only what it uses', () => {
  // Each of these cost every command a few ms when a static import pulled it in (issue 13): child_process (commander,
  // bin), crypto (probe pod names), and fs/promises with readline and fs streams (the ES module facade of node:fs).
  const UNUSED = [
    'NativeModule child_process',
    'NativeModule crypto',
    'NativeModule internal/fs/promises',
    'NativeModule internal/readline/interface',
    'NativeModule internal/fs/streams',
  ];
  const REPORT_LOADED =
    "data:text/javascript,process.on('exit',()=>process.stderr.write('\\nLOADED '+JSON.stringify(process.moduleLoadList)+'\\n'))";

  test('no child_process, crypto, fs/promises, readline or fs streams', async () => {
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', REPORT_LOADED, BIN, 'analyze', '--tcptracer', fixture('trace.txt'), '--json'],
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
      );
    });
    expect(result.code).toBe(0);
    const line = result.stderr.split('\n').find((l) => l.startsWith('LOADED '));
    const loaded = JSON.parse(line?.slice('LOADED '.length) ?? '[]') as string[];
    expect(loaded.length).toBeGreaterThan(50); // the list is there: Node's own start-up modules
    expect(loaded.filter((name) => UNUSED.includes(name))).toEqual([]);
  });
});

describe("this machine's own lsns, pstree, ss and /proc/net/tcp", () => {
  test('are read without a skipped line and count the connections the test holds open', async () => {
    const server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const clients = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<ReturnType<typeof tcpConnect>>((resolve) => {
            const c = tcpConnect(port, '127.0.0.1', () => resolve(c));
          }),
      ),
    );
    try {
      const dir = await mkdtemp(join(tmpdir(), 'analyze-'));
      const capture = async (name: string, command: string, args: string[]) => {
        const file = join(dir, name);
        await writeFile(file, execFileSync(command, args, { encoding: 'utf8' }));
        return file;
      };
      const lsns = await capture('lsns.json', 'lsns', ['-t', 'net', '--list', '-J']);
      const pstree = await capture('pstree.txt', 'pstree', ['-apsl', String(process.pid)]);
      // Only the test's own connections: what else the machine holds (other tests' namespaces and hosts run beside
      // this one) is not this test's to count.
      const ss = await capture('ss.txt', 'ss', ['-tnp', `( sport = :${port} or dport = :${port} )`]);
      const proc = join(dir, 'tcp.txt');
      const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
      const tables = execFileSync('cat', ['/proc/self/net/tcp', '/proc/self/net/tcp6'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => /^\s*sl\s/.test(line) || line.includes(hexPort));
      await writeFile(proc, `${tables.join('\n')}\n`);
      const result = await analyzeEvidence({
        lsns,
        pstree,
        ss: [`default/this-test=${ss}`],
        procNetTcp: [`default/this-test-proc=${proc}`],
        top: 15,
      });
      expect(result.skipped).toBe(0);
      expect(result.podsExamined).toBe(2);
      expect(result.inputs.map((i) => i.kind)).toEqual(['lsns', 'pstree', 'ss', 'proc-net-tcp']);
      // Header plus both ends of the two connections, at least.
      expect(result.inputs.find((i) => i.kind === 'ss')?.lines).toBeGreaterThanOrEqual(5);
      // Loopback is never SNAT'd: nothing ranks, and the message says so.
      expect(result.culprits).toEqual([]);
    } finally {
      for (const c of clients) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('bad arguments get a message saying what is accepted', () => {
  test.each([
    [['analyze'], /Give at least one evidence file/],
    [['analyze', '--netstat', 'no-equals-sign'], /--netstat "no-equals-sign" is not valid: give POD=FILE/],
    [['analyze', '--netstat', 'x;reboot=/tmp/f'], /--netstat "x;reboot=\/tmp\/f" is not valid/],
    [['analyze', '--ss', '$(id)=/tmp/f'], /--ss "\$\(id\)=\/tmp\/f" is not valid/],
    [['analyze', '--tcptracer', '/nonexistent/trace.txt'], /Cannot read \/nonexistent\/trace\.txt/],
    [['analyze', '--lsns', '/nonexistent/lsns.json'], /Cannot read \/nonexistent\/lsns\.json/],
    [['analyze', '--seconds', 'soon', '--lsns', '/dev/null'], /expected a positive number/],
  ])('%j', async (args, message) => {
    const { code, stderr } = await run(...args);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
  });
});
