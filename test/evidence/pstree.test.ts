// pstree -aps[l]: the research's captures (AKS, kind, the MS article, the live truncation demo), this machine's real
// psmisc pstree (over this process's own ancestry, and over a fake containerd shim that holds a network namespace),
// and properties over generated and damaged trees.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseLsns } from '../../lib/evidence/lsns.ts';
import { type PstreeProcess, parsePstree } from '../../lib/evidence/pstree.ts';

// ------------------------------------------------------------------------------------ research fixtures (verbatim)

// §3.3, a third-party capture on a kubeadm node: a swapped-out pause and app (parentheses) and three threads.
const BLOG_AKS = `systemd,1
  \`-containerd-shim,764860 -namespace k8s.io -id 14c1004655303a70a983452efb2bc04b390d8f4a4ad8b65de6e27a762de80e1a -address /var/run/containerd/containerd.sock
      \`-(pause,764880)
          \`-(BaseBackup,778711)
              |-{BaseBackup},778875
              |-{BaseBackup},778878
              \`-{BaseBackup},778886
`;

// §3.3, a kind node (`pstree -anspT 2141`): the cut read glued `-address/run/…` and cut the path at the width.
const BLOG_KIND = `systemd,1
  \`-containerd-shim,2141 -namespace k8s.io -id d945cf2e98edeef8f692db2f665694061d46483813e743083ca8d2e99fe752dd -address/run/containerd/conta
      |-pause,2165
      \`-tini,2256 -- /usr/local/bin/json-server --host  --port 80 --watch /default.json --middlewares/middleware.js
`;

// §3.3, the MS article (redacted, or cut by the width).
const MS_ARTICLE = `systemd,1
  \`-containerd-shim,20946 -namespace k8s.io -id 2xxxf...
`;

// §3.2, piped without -l (width 132): the research prefixed each line with its length, which is taken off here.
const LIVE_TRUNCATED =
  `130: process_api,1 --firecracker-init --addr 0.0.0.0:2024 --max-ws-buffer-size 32768 --block-local-connections --log-vsock-port 5002...
127:   \`-memfd:sealed-91,2552 --uid 0 --gid 0 --startup-timeout 60 --env{"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "CLO
27:       \`-bash,2607 /dev/fd/3
32:           \`-bash,10682 /dev/fd/3
36:               \`-bash,10683 /dev/fd/3
40:                   \`-bash,10693 /dev/fd/3
71:                       \`-containerd-shim,10695 -namespace k8s.io -id ...
`.replace(/^\d+: /gm, '');

// §3.2, the same shim with -l (one line of the output).
const LIVE_LONG_SHIM_LINE = `                      \`-containerd-shim,10695 -namespace k8s.io -id bb3b311a34072532d5d8ca35d9c847bde1e67dcec899ebb61db8b0ad3d70d576 -address /run/containerd/containerd.sock
`;

const AKS_SANDBOX = '14c1004655303a70a983452efb2bc04b390d8f4a4ad8b65de6e27a762de80e1a';
const KIND_SANDBOX = 'd945cf2e98edeef8f692db2f665694061d46483813e743083ca8d2e99fe752dd';

/** The same tree drawn as pstree draws it on a UTF-8 terminal (or with -U). */
const utf8 = (text: string): string => text.replaceAll('|-', '├─').replaceAll('`-', '└─').replaceAll('| ', '│ ');

const process_ = (pid: number, name: string, depth: number, parentPid: number | undefined, more = {}) => ({
  pid,
  name,
  depth,
  ...(parentPid === undefined ? {} : { parentPid }),
  thread: false,
  args: '',
  ...more,
});

describe('parsePstree on the research captures', () => {
  test.each([
    ['ASCII glyphs', BLOG_AKS],
    ['UTF-8 glyphs', utf8(BLOG_AKS)],
  ])(
    'a kubeadm node, %s: the shim names the sandbox, threads are threads, parenthesised names lose the parentheses',
    (_glyphs, text) => {
      const result = parsePstree(text);
      expect(result).toMatchObject({ lines: 7, skipped: 0, unreadableShims: [] });
      expect(result.processes).toEqual([
        process_(1, 'systemd', 0, undefined),
        process_(764860, 'containerd-shim', 1, 1, {
          args: `-namespace k8s.io -id ${AKS_SANDBOX} -address /var/run/containerd/containerd.sock`,
        }),
        process_(764880, 'pause', 2, 764860),
        process_(778711, 'BaseBackup', 3, 764880),
        process_(778875, 'BaseBackup', 4, 778711, { thread: true }),
        process_(778878, 'BaseBackup', 4, 778711, { thread: true }),
        process_(778886, 'BaseBackup', 4, 778711, { thread: true }),
      ]);
      expect(result.shims).toEqual([
        { shimPid: 764860, sandboxId: AKS_SANDBOX, namespace: 'k8s.io', descendantPids: [764880, 778711] },
      ]);
    },
  );

  test('a kind node: an -address glued by the cut read does not hide the -id; args keep their double space', () => {
    const result = parsePstree(BLOG_KIND);
    expect(result.skipped).toBe(0);
    expect(result.shims).toEqual([
      { shimPid: 2141, sandboxId: KIND_SANDBOX, namespace: 'k8s.io', descendantPids: [2165, 2256] },
    ]);
    expect(result.processes.find((p) => p.pid === 2256)?.args).toBe(
      '-- /usr/local/bin/json-server --host  --port 80 --watch /default.json --middlewares/middleware.js',
    );
  });

  test.each([
    ['the MS article, whose -id ends in "..."', MS_ARTICLE, 20946],
    ['the live capture without -l, whose -id was replaced by "..."', LIVE_TRUNCATED, 10695],
  ])('%s: the shim is unreadable, not a sandbox', (_scenario, text, shimPid) => {
    const result = parsePstree(text);
    expect(result.skipped).toBe(0);
    expect(result.shims).toEqual([]);
    expect(result.unreadableShims).toEqual([shimPid]);
  });

  test('the live capture without -l still gives the ancestry, whatever the cut did to the arguments', () => {
    const result = parsePstree(LIVE_TRUNCATED);
    expect(result.processes.map((p) => [p.pid, p.name, p.depth, p.parentPid])).toEqual([
      [1, 'process_api', 0, undefined],
      [2552, 'memfd:sealed-91', 1, 1],
      [2607, 'bash', 2, 2552],
      [10682, 'bash', 3, 2607],
      [10683, 'bash', 4, 10682],
      [10693, 'bash', 5, 10683],
      [10695, 'containerd-shim', 6, 10693],
    ]);
  });

  test('the same shim with -l: one line on its own is a tree of one', () => {
    expect(parsePstree(LIVE_LONG_SHIM_LINE)).toMatchObject({
      processes: [{ pid: 10695, name: 'containerd-shim', depth: 0, thread: false }],
      shims: [
        {
          shimPid: 10695,
          sandboxId: 'bb3b311a34072532d5d8ca35d9c847bde1e67dcec899ebb61db8b0ad3d70d576',
          namespace: 'k8s.io',
          descendantPids: [],
        },
      ],
    });
  });
});

describe('parsePstree on other shapes', () => {
  test('several runs concatenated (one per netns PID) are merged: each PID once, each shim once', () => {
    const result = parsePstree(BLOG_AKS + BLOG_KIND + BLOG_AKS);
    expect(result.processes.filter((p) => p.pid === 1)).toHaveLength(1);
    expect(result.shims.map((shim) => shim.sandboxId)).toEqual([AKS_SANDBOX, KIND_SANDBOX]);
    expect(result.processes.find((p) => p.pid === 2141)).toMatchObject({ depth: 1, parentPid: 1 });
  });

  test.each([
    ['-id=X', `-namespace=k8s.io -id=${KIND_SANDBOX} -address /run/containerd/containerd.sock`],
    ['--id X', `--namespace k8s.io --id ${KIND_SANDBOX}`],
    ['flags after the binary path (a shim run through a script)', `/opt/shim -namespace k8s.io -id ${KIND_SANDBOX}`],
  ])('Go flag spellings: %s', (_spelling, args) => {
    const result = parsePstree(`systemd,1\n  \`-containerd-shim,2141 ${args}\n      \`-pause,2165\n`);
    expect(result.shims).toEqual([
      { shimPid: 2141, sandboxId: KIND_SANDBOX, namespace: 'k8s.io', descendantPids: [2165] },
    ]);
  });

  test('a Docker shim (namespace moby) is reported with its namespace, for the caller to weigh', () => {
    const result = parsePstree(
      `containerd-shim,900 -namespace moby -id ${KIND_SANDBOX} -address /run/containerd/containerd.sock\n`,
    );
    expect(result.shims[0]).toMatchObject({ namespace: 'moby', sandboxId: KIND_SANDBOX });
  });

  test('a shim thread is not a shim', () => {
    const result = parsePstree(
      `containerd-shim,900 -namespace k8s.io -id ${KIND_SANDBOX}\n  \`-{containerd-shim},901\n`,
    );
    expect(result.shims).toEqual([{ shimPid: 900, sandboxId: KIND_SANDBOX, namespace: 'k8s.io', descendantPids: [] }]);
  });

  test('systemd with arguments, a name with a space, and a login shell', () => {
    const result = parsePstree('systemd,1 splash\n  |-Web Content,12 -isForBrowser\n  `--bash,13\n');
    expect(result.processes.map((p) => [p.name, p.args])).toEqual([
      ['systemd', 'splash'],
      ['Web Content', '-isForBrowser'],
      ['-bash', ''],
    ]);
  });

  test('the compact form (without -a) gives the tree but no shim, since it has no arguments', () => {
    const text = `systemd(1)───containerd-shim(2141)─┬─pause(2165)
                                   └─tini(2256)───{tini}(2257)
`;
    const result = parsePstree(text);
    expect(result.skipped).toBe(0);
    expect(result.processes.map((p) => [p.pid, p.depth, p.parentPid, p.thread])).toEqual([
      [1, 0, undefined, false],
      [2141, 1, 1, false],
      [2165, 2, 2141, false],
      [2256, 2, 2141, false],
      [2257, 3, 2256, true],
    ]);
    expect(result.shims).toEqual([]);
  });

  test('a shell prompt pasted with the output is skipped, not fatal', () => {
    const result = parsePstree(`root@k8s-master-1:~# pstree -aps 764880\n${BLOG_AKS}`);
    expect(result).toMatchObject({ lines: 8, skipped: 1, skippedSamples: ['root@k8s-master-1:~# pstree -aps 764880'] });
    expect(result.shims).toHaveLength(1);
  });
});

// ------------------------------------------------------------------------------------------------------ properties

interface Glyphs {
  branch: string;
  last: string;
  more: string;
}
const ASCII: Glyphs = { branch: '|-', last: '`-', more: '| ' };
const UTF8: Glyphs = { branch: '├─', last: '└─', more: '│ ' };

interface GeneratedProcess {
  depth: number;
  name: string;
  args: string;
  thread: boolean;
}

/** A tree in pre-order: each depth at most one more than the previous one; PIDs are assigned in order. */
const generatedTree = fc
  .array(
    fc.record({
      step: fc.integer({ min: -3, max: 1 }),
      name: fc.stringMatching(/^[a-z][a-z0-9:._-]{0,14}$/),
      args: fc.oneof(fc.constant(''), fc.stringMatching(/^[!-~][ -~]{0,60}$/)),
      thread: fc.boolean(),
    }),
    { minLength: 1, maxLength: 25 },
  )
  .map((items) => {
    let depth = 0;
    return items.map((item, i): GeneratedProcess => {
      depth = i === 0 ? 0 : Math.max(1, Math.min(depth + item.step, depth + 1));
      return { depth, name: item.name, args: item.args, thread: item.thread };
    });
  });

describe('parsePstree properties', () => {
  test('never throws, and counts every line, on arbitrary text and on damaged captures', () => {
    const damaged = fc
      .constantFrom(BLOG_AKS, BLOG_KIND, MS_ARTICLE, LIVE_TRUNCATED, utf8(BLOG_AKS))
      .chain((text) => fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 6 }).map((cuts) => cutLines(text, cuts)));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), damaged), (text) => {
        const result = parsePstree(text);
        expect(result.lines).toBe(lineCount(text));
        expect(result.skipped).toBeLessThanOrEqual(result.lines);
        for (const shim of result.shims) expect(shim.sandboxId).toMatch(/^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/);
      }),
    );
  });

  test.each([
    ['ASCII', ASCII],
    ['UTF-8', UTF8],
  ])('a generated -ap tree drawn in %s reads back: pids, parents, depths, names, args, threads', (_name, glyphs) => {
    fc.assert(
      fc.property(generatedTree, (tree) => {
        const text = renderPstree(tree, glyphs);
        const result = parsePstree(text);
        expect(result).toMatchObject({ lines: tree.length, skipped: 0 });
        const stack: number[] = [];
        const expected = tree.map((node, i): PstreeProcess => {
          stack.length = node.depth;
          const parentPid = stack.at(-1);
          stack.push(100 + i);
          return {
            pid: 100 + i,
            name: node.name,
            args: node.thread ? '' : node.args,
            thread: node.thread,
            depth: node.depth,
            ...(parentPid === undefined ? {} : { parentPid }),
          };
        });
        expect(result.processes).toEqual(expected);
      }),
    );
  });
});

// ----------------------------------------------------------------------------------------------- the real pstree

const pstreeVersion = toolVersion('pstree', ['-V']);
const describeWithPstree = pstreeVersion ? describe : describe.skip;

describeWithPstree(`the real pstree (${pstreeVersion ?? 'skipped: pstree (psmisc) is not installed here'})`, () => {
  const ownAncestry = ancestryFromProc(process.pid);

  test.each([
    ['pstree -apsl <this pid>', ['-apsl', String(process.pid)]],
    ['pstree -apsl 1 (the whole tree)', ['-apsl', '1']],
    ['pstree -apslU <this pid> (UTF-8 glyphs)', ['-apslU', String(process.pid)]],
    ['pstree -apslA 1 (ASCII glyphs)', ['-apslA', '1']],
    // -l: without it pstree cuts lines at 132 columns, and how deep this process sits depends on who started jest.
    ['pstree -pslU <this pid> (the compact form)', ['-pslU', String(process.pid)]],
  ])('%s: this process and its ancestors, as /proc has them', (_command, args) => {
    const result = parsePstree(run('pstree', args));
    expect(result.skipped).toBe(0);
    const byPid = new Map(result.processes.map((p) => [p.pid, p]));
    const chain: number[] = [];
    for (let pid: number | undefined = process.pid; pid !== undefined; pid = byPid.get(pid)?.parentPid) chain.push(pid);
    expect(chain).toEqual(ownAncestry);
    for (const [depth, pid] of [...chain].reverse().entries()) {
      expect(byPid.get(pid)).toMatchObject({ depth, thread: false, name: procStat(pid)!.comm });
    }
    // Node runs a few threads of its own (V8 platform, libuv pool): they appear as {node}-style children.
    const threads = result.processes.filter((p) => p.thread && p.parentPid === process.pid).map((p) => String(p.pid));
    expect(threads.some((tid) => readdirSync('/proc/self/task').includes(tid))).toBe(true);
  });

  test('-a prints the command line without argv[0], as /proc has it', () => {
    const result = parsePstree(run('pstree', ['-apsl', String(process.pid)]));
    expect(result.processes.find((p) => p.pid === process.pid)?.args).toBe(argsFromProc(process.pid));
  });

  describe('over a fake pod: a process called containerd-shim-runc-v2 whose child holds a network namespace', () => {
    const unshareWorks = spawnSync('unshare', ['-n', 'true']).status === 0;
    const testWithUnshare = unshareWorks ? test : test.skip;
    const note = unshareWorks ? '' : ' [skipped: `unshare -n` is not available or not permitted here]';
    const sandboxId = 'bb3b311a34072532d5d8ca35d9c847bde1e67dcec899ebb61db8b0ad3d70d576';
    let directory = '';
    let shim: ChildProcess | undefined;
    let pausePid = 0;

    beforeAll(async () => {
      if (!unshareWorks) return;
      // A script's comm is its file name cut to 15 characters (`containerd-shim`), like the real runc shim's. Its child
      // plays pause: alone in a new network namespace.
      directory = mkdtempSync(join(tmpdir(), 'snat-doctor-pstree-'));
      const script = join(directory, 'containerd-shim-runc-v2');
      writeFileSync(script, '#!/bin/sh\nunshare -n sleep 60 &\nwait\n');
      chmodSync(script, 0o755);
      shim = spawn(script, ['-namespace', 'k8s.io', '-id', sandboxId, '-address', '/run/containerd/containerd.sock'], {
        detached: true,
        stdio: 'ignore',
      });
      let failure: Error | undefined;
      shim.on('error', (error) => {
        failure = error;
      });
      pausePid = await until('the fake pause process', () => {
        if (failure) throw new Error(`could not run the fake shim ${script}: ${failure.message}`);
        return childrenOf(shim!.pid!).find(
          (pid) =>
            procStat(pid)?.comm === 'sleep' && inodeOf(pid) !== undefined && inodeOf(pid) !== inodeOf(process.pid),
        );
      });
    });
    afterAll(() => {
      stopGroup(shim);
      if (directory !== '') rmSync(directory, { recursive: true, force: true });
    });

    testWithUnshare(`lsns PID → pstree -apsl → the shim's -id: the join the node probe makes${note}`, () => {
      const inode = inodeOf(pausePid);
      const namespace = parseLsns(run('lsns', ['-t', 'net', '--list', '-J'])).namespaces.find((n) => n.inode === inode);
      expect(namespace).toMatchObject({ pid: pausePid, nprocs: 1 });

      const result = parsePstree(run('pstree', ['-apsl', String(namespace!.pid)]));
      expect(result.processes.find((p) => p.pid === shim!.pid)?.name).toBe('containerd-shim');
      expect(result.shims).toEqual([
        { shimPid: shim!.pid, sandboxId, namespace: 'k8s.io', descendantPids: [pausePid] },
      ]);
    });

    testWithUnshare(`without -l, at 80 columns, the shim's -id is cut: it is reported as unreadable${note}`, () => {
      const text = run('pstree', ['-aps', String(pausePid)], { COLUMNS: '80' });
      expect(text).toContain('...');
      const result = parsePstree(text);
      expect(result.shims).toEqual([]);
      expect(result.unreadableShims).toEqual([shim!.pid]);
    });
  });
});

// ------------------------------------------------------------------------------------------------------- helpers

/** Draws a tree as `pstree -ap` does: every level is two spaces and a two-character glyph. */
function renderPstree(tree: GeneratedProcess[], glyphs: Glyphs): string {
  const hasLaterSibling = (i: number): boolean => {
    for (let j = i + 1; j < tree.length && tree[j]!.depth >= tree[i]!.depth; j++) {
      if (tree[j]!.depth === tree[i]!.depth) return true;
    }
    return false;
  };
  const open: boolean[] = [];
  return tree
    .map((node, i) => {
      const last = !hasLaterSibling(i);
      const columns = open.slice(1, node.depth).map((more) => `  ${more ? glyphs.more : '  '}`);
      const glyph = node.depth === 0 ? '' : `  ${last ? glyphs.last : glyphs.branch}`;
      open[node.depth] = !last;
      const label = node.thread ? `{${node.name}},${100 + i}` : `${node.name},${100 + i}`;
      return `${columns.join('')}${glyph}${label}${!node.thread && node.args ? ` ${node.args}` : ''}\n`;
    })
    .join('');
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

function toolVersion(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) return undefined;
  return `${result.stdout}${result.stderr}`.trim().split('\n')[0];
}

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
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

/** PID, parent, grandparent… up to the root (whose parent is 0). */
function ancestryFromProc(pid: number): number[] {
  const chain: number[] = [];
  for (let current = pid; current > 0; current = procStat(current)?.ppid ?? 0) chain.push(current);
  return chain;
}

/** The arguments as pstree prints them: argv[1..] joined by spaces, `\` doubled, other non-printables as `\ooo`. */
function argsFromProc(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`).toString('latin1').split('\0');
  if (argv.at(-1) === '') argv.pop();
  const printable = (char: string): string => {
    const code = char.charCodeAt(0);
    if (char === '\\') return '\\\\';
    return code >= 0x20 && code <= 0x7e ? char : `\\${code.toString(8).padStart(3, '0')}`;
  };
  return argv
    .slice(1)
    .map((arg) => [...arg].map(printable).join(''))
    .join(' ');
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => procStat(candidate)?.ppid === pid);
}

function inodeOf(pid: number): number | undefined {
  try {
    const match = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
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
