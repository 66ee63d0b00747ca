// lsns -t net: the research's live captures, this machine's real util-linux lsns (over network namespaces that the
// tests create with `unshare`), and properties over generated and damaged input.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseLsns } from '../../lib/evidence/lsns.ts';
import type { NetnsEntry } from '../../lib/model.ts';

// ------------------------------------------------------------------------------------ research fixtures (verbatim)

// §2.2, before extra namespaces existed.
const LIVE_ONE_NAMESPACE = `        NS TYPE NPROCS PID USER    NETNSID NSFS COMMAND
4026531833 net      74   2 root unassigned      kthreadd
`;

// §2.2: two `ip netns` namespaces (one with an nsid) and a nested `unshare -n` whose COMMAND carries a tree glyph.
const LIVE_TABLE = `        NS TYPE NPROCS   PID USER    NETNSID NSFS                                                COMMAND
4026531833 net      74     2 root unassigned                                                     kthreadd
4026532177 net       1  7090 root          5 /run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555 sleep 600
4026532247 net       1  7504 root unassigned /run/netns/cni-demo2                                sleep 500
4026532317 net       1  7506 root unassigned                                                     └─sleep 500
`;

// §2.2, `-o NS,PID,COMMAND`.
const LIVE_NS_PID_COMMAND = `        NS   PID COMMAND
4026531833     2 kthreadd
4026532177  7090 sleep 600
4026532247  7504 sleep 500
4026532317  7506 └─sleep 500
`;

// §2.2, one namespace with two nsfs mounts: NSFS wraps onto a line of its own (trailing padding included).
const LIVE_MULTILINE_NSFS = `        NS   PID NSFS                                                COMMAND
4026531833     2                                                     kthreadd
4026532177  7090 /run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555 sleep 600
4026532247  7504 /run/netns/cni-demo2                                sleep 500
                 /mnt/nsbind                                         
4026532317  7506                                                     └─sleep 500
`;

// §2.3, `lsns -t net -J`.
const LIVE_JSON = `{
   "namespaces": [
      {
         "ns": 4026531833,
         "type": "net",
         "nprocs": 74,
         "pid": 2,
         "user": "root",
         "netnsid": "unassigned",
         "nsfs": null,
         "command": "kthreadd"
      },{
         "ns": 4026532177,
         "type": "net",
         "nprocs": 1,
         "pid": 7090,
         "user": "root",
         "netnsid": "5",
         "nsfs": "/run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555",
         "command": "sleep 600"
      }
   ]
}
`;

// §2.3 shows the tail of tree-mode JSON (`-J -o NS,PID,NETNSID,NSFS,COMMAND`); the head is built from the same run.
const LIVE_TREE_JSON = `{
   "namespaces": [
      {
         "ns": 4026531833,
         "pid": 2,
         "netnsid": "unassigned",
         "nsfs": null,
         "command": "kthreadd"
      },{
         "ns": 4026532177,
         "pid": 7090,
         "netnsid": "5",
         "nsfs": "/run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555",
         "command": "sleep 600"
      },{
         "ns": 4026532247,
         "pid": 7504,
         "netnsid": "unassigned",
         "nsfs": "/run/netns/cni-demo2\\n/mnt/nsbind",
         "command": "sleep 500",
         "children": [
            {
               "ns": 4026532317,
               "pid": 7506,
               "netnsid": "unassigned",
               "nsfs": null,
               "command": "sleep 500"
            }
         ]
      }
   ]
}
`;

// util-linux < 2.33 (§2.1): no JSON number typing, every value is a string. Built.
const STRING_NUMBERS_JSON = `{
   "namespaces": [
      {"ns": "4026531833", "type": "net", "nprocs": "74", "pid": "2", "user": "root", "netnsid": "unassigned", "nsfs": null, "command": "kthreadd"},
      {"ns": "4026532177", "type": "net", "nprocs": "1", "pid": "7090", "user": "root", "netnsid": "5", "nsfs": "/run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555", "command": "sleep 600"}
   ]
}`;

// util-linux 2.31 (the MS article's layout): `NS TYPE NPROCS PID USER COMMAND`, no NETNSID/NSFS. Built.
const V231_TABLE = `        NS TYPE NPROCS   PID USER   COMMAND
4026531993 net     168     1 root   /sbin/init
4026532487 net       2 20968 65535  /pause
`;

// `lsns` without `-t`: every namespace type. Built from the same column rules.
const ALL_TYPES_TABLE = `        NS TYPE   NPROCS   PID USER             COMMAND
4026531834 time       74     2 root             kthreadd
4026531835 cgroup     74     2 root             kthreadd
4026531833 net        74     2 root             kthreadd
4026532177 net         1  7090 root             sleep 600
`;

const KTHREADD: NetnsEntry = { inode: 4026531833, pid: 2, nprocs: 74, command: 'kthreadd' };
const KTHREADD_JSON = { ns: 4026531833, type: 'net', nprocs: 74, pid: 2, user: 'root', command: 'kthreadd' };
const CNI = {
  inode: 4026532177,
  pid: 7090,
  nprocs: 1,
  command: 'sleep 600',
  path: '/run/netns/cni-1a2b3c4d-0000-1111-2222-333344445555',
};
const DEMO2 = { inode: 4026532247, pid: 7504, nprocs: 1, command: 'sleep 500', path: '/run/netns/cni-demo2' };
const NESTED = { inode: 4026532317, pid: 7506, nprocs: 1, command: 'sleep 500' };
const V231: NetnsEntry[] = [
  { inode: 4026531993, pid: 1, nprocs: 168, command: '/sbin/init' },
  { inode: 4026532487, pid: 20968, nprocs: 2, command: '/pause' },
];
/** Without an NPROCS column, 1 stands in (the PID that lsns names is in the namespace). */
const oneProcess = (entry: NetnsEntry): NetnsEntry => ({ ...entry, nprocs: 1 });
const stripPath = ({ path: _path, ...entry }: NetnsEntry): NetnsEntry => entry;

describe('parseLsns on the research captures', () => {
  test.each<[string, string, NetnsEntry[]]>([
    ['the default net columns with a single namespace', LIVE_ONE_NAMESPACE, [KTHREADD]],
    [
      'the default net columns, empty NSFS cells and a tree glyph in COMMAND',
      LIVE_TABLE,
      [KTHREADD, CNI, DEMO2, NESTED],
    ],
    [
      '-o NS,PID,COMMAND (no NPROCS, no TYPE)',
      LIVE_NS_PID_COMMAND,
      [KTHREADD, CNI, DEMO2, NESTED].map(stripPath).map(oneProcess),
    ],
    [
      'a wrapped two-mount NSFS cell keeps its first path',
      LIVE_MULTILINE_NSFS,
      [KTHREADD, CNI, DEMO2, NESTED].map(oneProcess),
    ],
    ['--list -J', LIVE_JSON, [KTHREADD, CNI]],
    ['tree-mode -J nests children, walked in order', LIVE_TREE_JSON, [KTHREADD, CNI, DEMO2, NESTED].map(oneProcess)],
    ['JSON from util-linux < 2.33 with numbers as strings', STRING_NUMBERS_JSON, [KTHREADD, CNI]],
    ['the util-linux 2.31 columns', V231_TABLE, V231],
  ])('%s', (_scenario, text, expected) => {
    const result = parseLsns(text);
    expect(result.namespaces).toEqual(expected);
    expect(result.skipped).toBe(0);
    expect(result.error).toBeUndefined();
  });

  test('rows of other namespace types are ignored, not skipped', () => {
    const result = parseLsns(ALL_TYPES_TABLE);
    expect(result.namespaces).toEqual([KTHREADD, stripPath(CNI)]);
    expect(result).toMatchObject({ lines: 5, skipped: 0, otherTypes: 2 });
  });

  test('JSON entries of other types are ignored the same way', () => {
    const text = JSON.stringify({ namespaces: [{ ns: 4026531834, type: 'time', pid: 2 }, { ...KTHREADD_JSON }] });
    expect(parseLsns(text)).toMatchObject({ namespaces: [KTHREADD], skipped: 0, otherTypes: 1 });
  });

  test('--nowrap joins two mounts with a comma: the first path is kept', () => {
    const text = `        NS   PID NSFS                                     COMMAND
4026532247  7504 /run/netns/cni-demo2,/mnt/nsbind         sleep 500
`;
    expect(parseLsns(text).namespaces).toEqual([oneProcess(DEMO2)]);
  });

  test('the C-locale tree glyph is stripped from COMMAND too', () => {
    const text = LIVE_NS_PID_COMMAND.replace('└─', '`-');
    expect(parseLsns(text).namespaces.at(-1)).toEqual(oneProcess(stripPath(NESTED)));
  });
});

describe('parseLsns on damaged input', () => {
  test('JSON that does not parse skips every non-blank line and says why', () => {
    const text = LIVE_JSON.slice(0, 200);
    const result = parseLsns(text);
    expect(result.namespaces).toEqual([]);
    expect(result.skipped).toBe(text.split('\n').filter((line) => line.trim() !== '').length);
    expect(result.error).toMatch(/^lsns JSON does not parse/);
    expect(result.skippedSamples[0]).toBe('{');
  });

  test('JSON without a namespaces array is unusable', () => {
    expect(parseLsns('{"filesystems": []}')).toMatchObject({
      skipped: 1,
      error: 'lsns JSON has no "namespaces" array',
    });
  });

  test('malformed JSON entries are skipped one by one, the good ones kept', () => {
    const text = JSON.stringify({ namespaces: [{ ns: 'x', pid: 2 }, KTHREADD_JSON, 7, { ns: 4026531833 }] });
    const result = parseLsns(text);
    expect(result.namespaces).toEqual([KTHREADD]);
    expect(result.skipped).toBe(3);
    expect(result.skippedSamples).toEqual(['{"ns":"x","pid":2}', '7', '{"ns":4026531833}']);
  });

  test('table rows with a non-numeric NS or PID are skipped', () => {
    const text = `${LIVE_TABLE}garbage line that is not a row\n4026532999 net       1  abcd root unassigned      x\n`;
    const result = parseLsns(text);
    expect(result.namespaces).toHaveLength(4);
    expect(result).toMatchObject({ lines: 7, skipped: 2 });
  });

  test('a table without its header is skipped whole', () => {
    const text = LIVE_TABLE.split('\n').slice(1).join('\n');
    const result = parseLsns(text);
    expect(result).toMatchObject({ namespaces: [], skipped: 4, error: 'lsns table has no header line (NS … PID …)' });
  });

  test('empty input is no lines and no error', () => {
    expect(parseLsns('')).toEqual({ lines: 0, skipped: 0, skippedSamples: [], namespaces: [], otherTypes: 0 });
  });
});

// ------------------------------------------------------------------------------------------------------ properties

const FIXTURES = [
  LIVE_ONE_NAMESPACE,
  LIVE_TABLE,
  LIVE_NS_PID_COMMAND,
  LIVE_MULTILINE_NSFS,
  LIVE_JSON,
  LIVE_TREE_JSON,
  STRING_NUMBERS_JSON,
  V231_TABLE,
  ALL_TYPES_TABLE,
];

/** A fixture with some of its lines cut at random places. */
const damagedFixture = fc
  .constantFrom(...FIXTURES)
  .chain((text) => fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 6 }).map((cuts) => cutLines(text, cuts)));

interface GeneratedRow {
  inode: number;
  type: string;
  nprocs: number;
  pid: number;
  user: string;
  netnsid: string;
  nsfs: string;
  command: string;
}

const generatedRow = fc.record({
  inode: fc.integer({ min: 4026531800, max: 4026599999 }),
  type: fc.constantFrom('net', 'net', 'net', 'mnt', 'uts'),
  nprocs: fc.integer({ min: 1, max: 9999 }),
  pid: fc.integer({ min: 1, max: 4194304 }),
  user: fc.constantFrom('root', 'nobody', '65535'),
  netnsid: fc.oneof(fc.constant('unassigned'), fc.nat({ max: 999 }).map(String)),
  nsfs: fc.oneof(fc.constant(''), fc.stringMatching(/^\/run\/netns\/cni-[0-9a-f-]{1,36}$/)),
  command: fc.stringMatching(/^[a-z/][ -~]{0,40}$/).map((command) => command.trim()),
});

describe('parseLsns properties', () => {
  test('never throws, and never skips more than the lines it read, on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), damagedFixture), (text) => {
        const result = parseLsns(text);
        expect(result.lines).toBe(lineCount(text));
        expect(result.skippedSamples.length).toBeLessThanOrEqual(5);
        if (!text.trimStart().startsWith('{')) expect(result.skipped).toBeLessThanOrEqual(result.lines);
      }),
    );
  });

  test('a libsmartcols table: lines = rows + other types + header + blank + skipped, and every net row is read back', () => {
    const garbage = fc.stringMatching(/^[a-z][!-~]{0,60}$/);
    const line = fc.oneof(
      { weight: 6, arbitrary: generatedRow.map((row) => ({ row })) },
      { weight: 1, arbitrary: fc.constant({ blank: true }) },
      { weight: 1, arbitrary: garbage.map((text) => ({ garbage: text })) },
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (items) => {
        const rows = items.flatMap((item) => ('row' in item ? [item.row] : []));
        const rendered = renderLsnsTable(rows);
        let r = 0;
        const lines = [
          rendered[0]!,
          ...items.map((item) => ('row' in item ? rendered[++r]! : 'garbage' in item ? item.garbage : '')),
        ];
        const result = parseLsns(`${lines.join('\n')}\n`);
        const blank = items.filter((item) => 'blank' in item).length;
        const garbageLines = items.filter((item) => 'garbage' in item).length;
        const netRows = rows.filter((row) => row.type === 'net');
        expect(result.skipped).toBe(garbageLines);
        expect(result.otherTypes).toBe(rows.length - netRows.length);
        expect(result.lines).toBe(result.namespaces.length + result.otherTypes + 1 + blank + result.skipped);
        expect(result.namespaces).toEqual(
          netRows.map((row) => ({
            inode: row.inode,
            pid: row.pid,
            nprocs: row.nprocs,
            command: row.command,
            ...(row.nsfs ? { path: row.nsfs } : {}),
          })),
        );
      }),
    );
  });
});

// ------------------------------------------------------------------------------------------------- the real lsns

const lsnsVersion = toolVersion('lsns', ['--version']);
const describeWithLsns = lsnsVersion ? describe : describe.skip;
// Making namespaces needs `unshare` and CAP_SYS_ADMIN (or user namespaces); mounting one on a file needs root.
const unshareWorks = lsnsVersion !== undefined && spawnSync('unshare', ['-n', 'true']).status === 0;
const testWithUnshare = unshareWorks ? test : test.skip;
const unshareNote = unshareWorks ? '' : ' [skipped: `unshare -n` is not available or not permitted here]';
const nsfsWorks = unshareWorks && canMountNamespace();
const testWithNsfs = nsfsWorks ? test : test.skip;
const nsfsNote = nsfsWorks ? '' : ' [skipped: `unshare --net=FILE` cannot bind-mount a namespace here]';

describeWithLsns(`the real lsns (${lsnsVersion ?? 'skipped: lsns (util-linux) is not installed here'})`, () => {
  const ownInode = inodeOf('/proc/self/ns/net')!;

  test('--list -J finds this process’s own namespace, named by a PID that is really in it', () => {
    const result = parseLsns(run('lsns', ['-t', 'net', '--list', '-J']));
    expect(result).toMatchObject({ skipped: 0, otherTypes: 0 });
    const own = result.namespaces.find((entry) => entry.inode === ownInode);
    expect(own).toBeDefined();
    expect(inodeOf(`/proc/${own!.pid}/ns/net`)).toBe(ownInode);
    // lsns counts the processes it can read; a few may start or end between its run and this scan.
    const members = processesIn(ownInode);
    expect(members).toContain(process.pid);
    expect(Math.abs(own!.nprocs - members.length)).toBeLessThanOrEqual(5);
  });

  test.each([
    ['lsns -t net (tree mode, the default since 2.38)', ['-t', 'net']],
    ['lsns -t net --list', ['-t', 'net', '--list']],
    [
      'lsns -t net -o NS,TYPE,NPROCS,PID,USER,NETNSID,NSFS,COMMAND',
      ['-t', 'net', '-o', 'NS,TYPE,NPROCS,PID,USER,NETNSID,NSFS,COMMAND'],
    ],
    ['lsns -t net -J (tree JSON)', ['-t', 'net', '-J']],
  ])('%s names the same namespaces as --list -J', (_command, args) => {
    const reference = parseLsns(run('lsns', ['-t', 'net', '--list', '-J'])).namespaces;
    const result = parseLsns(run('lsns', args));
    expect(result.skipped).toBe(0);
    expect(inodesAndPids(result.namespaces)).toEqual(inodesAndPids(reference));
  });

  describe('over namespaces made for the test', () => {
    let outer: ChildProcess | undefined;
    let shPid = 0;
    let innerPid = 0;
    let outerInode = 0;
    let innerInode = 0;
    const command = 'sh -c unshare -n sleep 60 & sleep 60 & wait';

    beforeAll(async () => {
      if (!unshareWorks) return;
      // sh in a new netns with two children: `sleep` stays in it, `unshare -n sleep` makes a nested one. lsns then
      // prints the nested namespace under the outer one (a tree glyph in COMMAND, `children` in JSON).
      outer = spawn('unshare', ['-n', 'sh', '-c', 'unshare -n sleep 60 & sleep 60 & wait'], {
        detached: true,
        stdio: 'ignore',
      });
      shPid = outer.pid!;
      [innerPid, outerInode, innerInode] = await until(
        'the test namespaces',
        (): [number, number, number] | undefined => {
          const outerNs = inodeOf(`/proc/${shPid}/ns/net`);
          const sleeps = childrenOf(shPid).filter((pid) => procStat(pid)?.comm === 'sleep');
          const inner = sleeps.find((pid) => inodeOf(`/proc/${pid}/ns/net`) !== outerNs);
          const innerNs = inner === undefined ? undefined : inodeOf(`/proc/${inner}/ns/net`);
          if (outerNs === undefined || outerNs === ownInode || sleeps.length !== 2) return undefined;
          return inner !== undefined && innerNs !== undefined ? [inner, outerNs, innerNs] : undefined;
        },
      );
    });
    afterAll(() => stopGroup(outer));

    testWithUnshare.each<[string, string[], Record<string, string>, RegExp | undefined]>([
      ['--list -J', ['-t', 'net', '--list', '-J'], {}, undefined],
      ['-J in tree mode (children)', ['-t', 'net', '-J'], {}, /"children"/],
      ['the table, UTF-8 tree glyphs', ['-t', 'net'], { LC_ALL: 'C.UTF-8' }, /└─sleep 60/],
      ['the table, ASCII tree glyphs', ['-t', 'net'], { LC_ALL: 'C' }, /`-sleep 60/],
      [
        'the table with explicit columns',
        ['-t', 'net', '-o', 'NS,TYPE,NPROCS,PID,USER,NETNSID,NSFS,COMMAND'],
        {},
        undefined,
      ],
    ])(
      `%s: the outer namespace holds sh and one sleep, the nested one a single sleep${unshareNote}`,
      (_form, args, env, shape) => {
        const text = run('lsns', args, env);
        if (shape) expect(text).toMatch(shape);
        const result = parseLsns(text);
        expect(result.skipped).toBe(0);
        expect(result.namespaces).toContainEqual({ inode: outerInode, pid: shPid, nprocs: 2, command });
        expect(result.namespaces).toContainEqual({ inode: innerInode, pid: innerPid, nprocs: 1, command: 'sleep 60' });
      },
    );
  });

  describe('over a namespace mounted on a file (NSFS)', () => {
    let holder: ChildProcess | undefined;
    let directory = '';

    beforeAll(async () => {
      if (!nsfsWorks) return;
      directory = mkdtempSync(join(tmpdir(), 'snat-doctor-lsns-'));
      writeFileSync(join(directory, 'netns'), '');
      // `unshare --net=FILE` bind-mounts the new namespace on FILE, as `ip netns add` does under /run/netns.
      holder = spawn('unshare', [`--net=${join(directory, 'netns')}`, 'sleep', '60'], {
        detached: true,
        stdio: 'ignore',
      });
      await until('the namespace mounted on a file', () => {
        const inode = inodeOf(`/proc/${holder!.pid}/ns/net`);
        return inode !== undefined && inode !== inodeOf('/proc/self/ns/net') ? true : undefined;
      });
    });
    afterAll(() => {
      stopGroup(holder);
      if (directory === '') return;
      spawnSync('umount', [join(directory, 'netns')]);
      rmSync(directory, { recursive: true, force: true });
    });

    testWithNsfs.each([
      ['--list -J', ['-t', 'net', '--list', '-J']],
      ['the table', ['-t', 'net', '--list']],
    ])(`%s fills the path from NSFS${nsfsNote}`, (_form, args) => {
      const inode = inodeOf(`/proc/${holder!.pid}/ns/net`);
      const result = parseLsns(run('lsns', args));
      expect(result.namespaces).toContainEqual({
        inode,
        pid: holder!.pid,
        nprocs: 1,
        command: 'sleep 60',
        path: join(directory, 'netns'),
      });
    });
  });
});

// ------------------------------------------------------------------------------------------------------- helpers

function inodesAndPids(entries: NetnsEntry[]): string[] {
  return entries.map((entry) => `${entry.inode}/${entry.pid}`).sort();
}

/** Renders rows as libsmartcols does: numbers right-aligned, text left-aligned, one space apart, COMMAND unpadded. */
function renderLsnsTable(rows: GeneratedRow[]): string[] {
  const columns: [string, boolean, (row: GeneratedRow) => string][] = [
    ['NS', true, (row) => String(row.inode)],
    ['TYPE', false, (row) => row.type],
    ['NPROCS', true, (row) => String(row.nprocs)],
    ['PID', true, (row) => String(row.pid)],
    ['USER', false, (row) => row.user],
    ['NETNSID', true, (row) => row.netnsid],
    ['NSFS', false, (row) => row.nsfs],
    ['COMMAND', false, (row) => row.command],
  ];
  const widths = columns.map(([name, , cell]) => Math.max(name.length, ...rows.map((row) => cell(row).length)));
  const render = (cells: string[]): string =>
    cells
      .map((cell, k) =>
        k === cells.length - 1 ? cell : columns[k]![1] ? cell.padStart(widths[k]!) : cell.padEnd(widths[k]!),
      )
      .join(' ');
  return [render(columns.map(([name]) => name)), ...rows.map((row) => render(columns.map(([, , cell]) => cell(row))))];
}

function cutLines(text: string, cuts: [number, number][]): string {
  const lines = text.split('\n');
  for (const [which, where] of cuts) {
    const index = which % lines.length;
    lines[index] = lines[index]!.slice(0, where % (lines[index]!.length + 1));
  }
  return lines.join('\n');
}

function lineCount(text: string): number {
  if (text === '') return 0;
  const lines = text.split('\n');
  return lines.at(-1) === '' ? lines.length - 1 : lines.length;
}

/** Whether `unshare --net=FILE` can bind-mount a namespace here (it needs CAP_SYS_ADMIN in the mount namespace). */
function canMountNamespace(): boolean {
  const directory = mkdtempSync(join(tmpdir(), 'snat-doctor-lsns-probe-'));
  const file = join(directory, 'netns');
  try {
    writeFileSync(file, '');
    const mounted = spawnSync('unshare', [`--net=${file}`, 'true']).status === 0;
    if (mounted) spawnSync('umount', [file]);
    return mounted;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function toolVersion(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return `${result.stdout}${result.stderr}`.trim().split('\n')[0];
}

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
}

function inodeOf(nsLink: string): number | undefined {
  try {
    const match = /^net:\[(\d+)\]$/.exec(readlinkSync(nsLink));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined; // the process is gone, or its namespace cannot be read
  }
}

function procStat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(stat.slice(close + 2).split(' ')[1]) };
  } catch {
    return undefined;
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function childrenOf(pid: number): number[] {
  return pids().filter((candidate) => procStat(candidate)?.ppid === pid);
}

function processesIn(inode: number): number[] {
  return pids().filter((pid) => inodeOf(`/proc/${pid}/ns/net`) === inode);
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Ends a process group this test started (spawned `detached`, so its PID is the group id). */
function stopGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
