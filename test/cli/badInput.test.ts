// The CLI attacked with bad input (issue 14): option errors exited 1 where the README promises 2; `sandbox
// --kubeconfig` in a missing directory printed a stack trace and never exited; `analyze` given a directory printed a
// stack trace, given /dev/urandom read until killed, and printed a probe report's escape sequences raw; `config` and
// `serve` printed the start of a bot token pasted into the wrong setting; `--probe-image 'busybox;reboot'` was silently
// ignored with --sandbox. Each is now an exit 2 with a message saying how to fix it, or text that shows and hides
// what it should.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { Option } from 'commander';
import { analyzeEvidence, MAX_INPUT_BYTES } from '../../lib/analysis/analyzeEvidence.ts';
import { terminalSafe } from '../../lib/cli/badInput.ts';
import { configCommand } from '../../lib/cli/configCommand.ts';
import { buildProgram } from '../../lib/cli/main.ts';
import { serveSandbox } from '../../lib/cli/sandboxCommand.ts';
import { readConfig, SETTINGS } from '../../lib/config.ts';
import { SnatDoctorError } from '../../lib/errors.ts';
import { readInputText } from '../../lib/readInput.ts';
import { renderAnalysis } from '../../lib/render/analysisText.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const ESC = '\u001b';
const CSI = '\u009b';
const BOT_TOKEN = 'xoxb-2718281828-3141592653-QwErTyUiOpAsDfGhJkLzXcVb';

/**
 * Runs the CLI. The timeout only ends a regression that hangs (the failures here did); the assertions are on the exit
 * code and the output.
 */
function run(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, NO_COLOR: '1', ...options.env }, cwd: options.cwd, timeout: 50_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stdout, stderr }),
    );
  });
}

/** A message for a person: one `snat-doctor:` line or a few, and no stack trace. */
function expectMessageOnly(stderr: string): void {
  expect(stderr).toMatch(/^snat-doctor: /);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr).not.toContain('unexpected error');
}

/** Every 6-character piece of `secret`: none may be printed. */
const piecesOf = (secret: string) => Array.from({ length: secret.length - 5 }, (_, i) => secret.slice(i, i + 6));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'snat-doctor-bad-input-'));
});

describe('option errors exit 2 with a message, as the README promises (they exited 1)', () => {
  test.each([
    [['diagnose', '--seconds', '-5'], /'--seconds <n>' argument '-5' is invalid: expected .* from 5 to 300/],
    [['diagnose', '--seconds', '1000'], /from 5 to 300/],
    [['serve', '--port', '0'], /'--port <n>' argument '0' is invalid: expected a TCP port, .* from 1 to 65535/],
    [['serve', '--port', '1.5'], /argument '1\.5' is invalid: expected a TCP port/],
    [['serve', '--port', '70000'], /argument '70000' is invalid: expected a TCP port/],
    [['sandbox', '--port', '0', '--kubeconfig', 'k'], /argument '0' is invalid: expected a TCP port/],
    [['sandbox', '--kubeconfig'], /option '--kubeconfig <path>' argument missing/],
    [['sandbox'], /required option '--kubeconfig <path>' not specified/],
    [['diagnose', '--bogus'], /unknown option '--bogus'/],
    [['bogus'], /unknown command 'bogus'/],
    [['diagnose', 'extra'], /too many arguments for 'diagnose'/],
    [['analyze', '--top', '0'], /'--top <n>' argument '0' is invalid: expected a whole number of at least 1/],
    [['analyze', '--seconds', '0', '--lsns', '/dev/null'], /'--seconds <n>' argument '0' is invalid/],
  ])('%j', async (args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectMessageOnly(stderr);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('(run with --help for usage)');
  });

  test('help asked for is still exit 0, and no command at all is a usage error (help on stderr, exit 2)', async () => {
    const help = await run(['diagnose', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--probe-image');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: snat-doctor');
  });
});

describe('diagnose --probe-image is checked whatever the target (it was silently ignored with --sandbox)', () => {
  test.each([
    [['--sandbox', 'scenario.yaml']],
    [['--subscription', '00000000-0000-0000-0000-000000000000', '-g', 'rg', '--cluster', 'aks']],
    [[]],
  ])("diagnose --probe-image 'busybox;reboot' %j exits 2 naming the image and what is accepted", async (target) => {
    const { code, stdout, stderr } = await run(['diagnose', '--probe-image', 'busybox;reboot', ...target]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectMessageOnly(stderr);
    expect(stderr).toMatch(
      /'--probe-image <image>' argument 'busybox;reboot' is invalid: expected a full image reference, like mcr\.microsoft\.com\/azurelinux\/busybox:1\.36/,
    );
  });

  test('the probe pod’s own rule decides: full references pass, anything a shell or YAML would read does not', () => {
    const diagnose = buildProgram().commands.find((c) => c.name() === 'diagnose');
    const option = diagnose?.options.find((o) => o.long === '--probe-image') as Option;
    const parse = (value: string) => option.parseArg?.(value, undefined);
    for (const image of [
      'mcr.microsoft.com/azurelinux/busybox:1.36',
      'docker.io/library/busybox:1.36',
      `myregistry.azurecr.io:5000/tools/busybox@sha256:${'a'.repeat(64)}`,
    ]) {
      expect(parse(image)).toBe(image);
    }
    for (const image of ['busybox;reboot', '$(id)/x:1', 'mcr.microsoft.com/busybox:1.36 --privileged', '', 'a/b:\n']) {
      expect(() => parse(image)).toThrow(/expected a full image reference/);
    }
  });
});

describe('sandbox --kubeconfig that cannot be written (a stack trace, and it never exited)', () => {
  test('sandbox --kubeconfig /nonexistent-dir/x exits 2 saying it cannot write it', async () => {
    const cwd = await mkdtemp(join(dir, 'sandbox-'));
    const { code, stdout, stderr } = await run(['sandbox', '--kubeconfig', '/nonexistent-dir/x'], { cwd });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectMessageOnly(stderr);
    expect(stderr).toMatch(/--kubeconfig \/nonexistent-dir\/x: cannot write it \(ENOENT.*\)\. Give a file path/);
  });

  test.each([
    ['the kubeconfig in a missing directory', { kubeconfig: '/nonexistent-dir/x', connection: 'ok' }],
    ['the connection file a directory', { kubeconfig: 'kubeconfig', connection: '.' }],
  ])('%s: 2, and the sandbox it started is closed (nothing left listening)', async (_what, paths) => {
    const here = await mkdtemp(join(dir, 'sandbox-'));
    const at = (path: string) => (path.startsWith('/') ? path : join(here, path));
    const listening = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
    const before = listening();
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await serveSandbox({ kubeconfig: at(paths.kubeconfig), connection: at(paths.connection) });
      expect(code).toBe(2);
      expect(String(stderr.mock.calls[0]?.[0])).toMatch(/^snat-doctor: --(kubeconfig|connection) .*: cannot write it/);
    } finally {
      stderr.mockRestore();
    }
    // A closed server's handle goes in the event loop's close phase: a few turns, not a wait.
    for (let turn = 0; turn < 10 && listening() !== before; turn++) await new Promise((r) => setImmediate(r));
    expect(listening()).toBe(before);
  });
});

describe('analyze given a directory exits 2 and says it is a directory (--tcptracer printed a stack trace)', () => {
  test.each([
    ['--tcptracer', 'DIR'],
    ['--lsns', 'DIR'],
    ['--pstree', 'DIR'],
    ['--crictl', 'DIR'],
    ['--probe-report', 'DIR'],
    ['--netstat', 'default/pod=DIR'],
    ['--ss', 'default/pod=DIR'],
    ['--proc-net-tcp', 'default/pod=DIR'],
    ['--windows-netstat', 'default/pod=DIR'],
  ])('analyze %s %s', async (option, value) => {
    const { code, stdout, stderr } = await run(['analyze', option, value.replace('DIR', dir)]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectMessageOnly(stderr);
    expect(stderr).toBe(`snat-doctor: ${option} ${dir} is a directory: give the file itself.\n`);
  });
});

describe('every whole-file read in analyze is bounded (/dev/urandom as --netstat read until killed, 950 MB)', () => {
  test('analyze --netstat POD=/dev/zero stops at the 64 MiB cap and exits 2 naming it', async () => {
    const { code, stdout, stderr } = await run(['analyze', '--netstat', 'default/pod=/dev/zero']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expectMessageOnly(stderr);
    expect(stderr).toMatch(
      /^snat-doctor: --netstat \/dev\/zero is not a regular file and gave more than 64 MiB without ending .*: snat-doctor reads at most 64 MiB of a --netstat file\./,
    );
  });

  test.each([
    ['lsns', '--lsns', 'FILE'],
    ['pstree', '--pstree', 'FILE'],
    ['crictl', '--crictl', ['FILE']],
    ['probeReport', '--probe-report', 'FILE'],
    ['netstat', '--netstat', ['default/pod=FILE']],
    ['ss', '--ss', ['default/pod=FILE']],
    ['procNetTcp', '--proc-net-tcp', ['default/pod=FILE']],
    ['windowsNetstat', '--windows-netstat', ['default/pod=FILE']],
  ])(
    'a regular file over the cap given as %s is refused before it is read, naming the cap',
    async (key, option, given) => {
      const path = join(dir, `over-the-cap-${key}.txt`);
      await writeFile(path, '');
      await truncate(path, MAX_INPUT_BYTES + 1024 * 1024); // sparse: nothing is written
      const value = Array.isArray(given) ? given.map((g) => g.replace('FILE', path)) : given.replace('FILE', path);
      const failure = await analyzeEvidence({ [key]: value, top: 15 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(SnatDoctorError);
      expect((failure as Error).message).toBe(
        `${option} ${path} is 65 MiB: snat-doctor reads at most 64 MiB of a ${option} file. Give the file the command wrote (the real ones are a few MiB at most).`,
      );
    },
  );

  test('a source that does not end is read up to the cap and no further; a file exactly the cap long is read', async () => {
    await expect(readInputText('/dev/zero', '--lsns', 1000)).rejects.toThrow(/is not a regular file and gave more/);
    const exact = join(dir, 'exact.txt');
    await writeFile(exact, 'x'.repeat(1000));
    await expect(readInputText(exact, '--lsns', 1000)).resolves.toHaveLength(1000);
    await writeFile(exact, 'x'.repeat(1001));
    await expect(readInputText(exact, '--lsns', 1000)).rejects.toThrow(/snat-doctor reads at most/);
    // A file named by what it is rather than by an option (it read "of a the scenario file file").
    await expect(readInputText(exact, 'the scenario file', 1000)).rejects.toThrow(
      /reads at most 0\.0 MiB of the scenario file\. /,
    );
  });
});

describe('analyze --probe-report with terminal escape sequences in it (it printed them raw)', () => {
  // A report whose noise, a comm and an unavailable reason carry ESC and C1 sequences: a clear screen, a colour, a
  // window title, an OSC 8 link, a raw C1 CSI.
  const report = [
    `${ESC}]0;pwned${ESC}\\ noise before the report ${ESC}[2J`,
    '@@ snat-doctor-probe 1',
    '@@ meta',
    'node=aks-node-1',
    'seconds=30',
    'traced_seconds=30',
    'host_netns=4026531840',
    '@@ trace',
    '# events=10 skipped=0 lost=0 pruned=0 prune_floor=0',
    `700 connect 10.244.1.4 20.50.2.10 443 4026532207 3101 ja${ESC}[31mva`,
    '@@ sockets',
    '4026532207 01 0A023214:01BB 12',
    '@@ unavailable',
    `crictl${ESC}[31m\tnot found ${ESC}]8;;http://evil.example${ESC}\\here${CSI}2J\u007f`,
    '@@ end',
    '',
  ].join('\n');
  let path: string;
  beforeAll(async () => {
    path = join(dir, 'escapes.probe');
    await writeFile(path, report);
  });
  // Every control character (C0, DEL, C1) but tab and newline.
  const controls = /(?![\t\n])\p{Cc}/u;

  test('the text output shows each control character as its \\u escape and obeys none', async () => {
    const text = renderAnalysis(await analyzeEvidence({ probeReport: path, top: 15 }));
    expect(text).not.toMatch(controls);
    expect(text).toContain(
      'Note: On the node, crictl\\u001b[31m was unavailable: not found \\u001b]8;;http://evil.example\\u001b\\here\\u009b2J\\u007f.',
    );
    expect(text).toContain('(e.g. "\\u001b]0;pwned\\u001b\\\\ noise before the report \\u001b[2J")');
  });

  test('through the CLI: text and JSON carry no control character; the JSON still parses to what the file held', async () => {
    const text = await run(['analyze', '--probe-report', path]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(controls);
    const json = await run(['analyze', '--json', '--probe-report', path]);
    expect(json.code).toBe(0);
    expect(json.stdout.replace(/\n/g, '')).not.toMatch(controls);
    expect(JSON.parse(json.stdout).notes[0]).toContain(`not found ${ESC}]8;;http://evil.example`);
  });

  test("a probe report's error section is quoted in the exit-2 message with its escapes shown, not obeyed", async () => {
    const refused = join(dir, 'refused.probe');
    await writeFile(refused, `@@ error\n${ESC}[2J${CSI}31mboom\n@@ end\n`);
    const { code, stderr } = await run(['analyze', '--probe-report', refused]);
    expect(code).toBe(2);
    expect(stderr).toBe('snat-doctor: The node probe refused to run: \\u001b[2J\\u009b31mboom\n');
  });

  test('terminalSafe keeps tabs, newlines and text, and escapes every other control character', () => {
    expect(terminalSafe(`a\tb\nc${ESC}[0m\r${CSI}é✓`)).toBe('a\tb\nc\\u001b[0m\\u000d\\u009bé✓');
  });
});

describe('config and serve never print a bot token pasted into the wrong setting (they printed its start)', () => {
  const capture = () => {
    let out = '';
    const sink = { write: (text: string) => (out += text) };
    return { sink, text: () => out };
  };

  test.each([
    [
      SETTINGS.slackSigningSecret,
      /holds what looks like a Slack bot token \(not shown; it belongs in SLACK_BOT_TOKEN\): expected the Slack app's signing secret, hexadecimal digits/,
    ],
    [
      SETTINGS.slackAccess,
      /holds what looks like a Slack bot token \(not shown; it belongs in SLACK_BOT_TOKEN\): expected JSON naming the clusters/,
    ],
    [
      SETTINGS.watchClusters,
      /holds what looks like a Slack bot token \(not shown; it belongs in SLACK_BOT_TOKEN\): expected a JSON array of the clusters/,
    ],
    [SETTINGS.warnRatio, /holds what looks like a Slack bot token .*: expected a share of the allocated ports/],
    [SETTINGS.investigateRatio, /holds what looks like a Slack bot token .*: expected a share/],
    [SETTINGS.cooldownMinutes, /holds what looks like a Slack bot token .*: expected a whole number of minutes/],
    [
      SETTINGS.evidenceContainerUrl,
      /holds what looks like a Slack bot token .*, not a URL: expected the evidence container's URL/,
    ],
    [SETTINGS.privateRanges, /: what looks like a Slack bot token .* is not a CIDR range/],
    [SETTINGS.watchSchedule, /holds what looks like a Slack bot token .*: expected an NCRONTAB schedule/],
    [SETTINGS.taskHubName, /holds what looks like a Slack bot token .*: a task hub name starts with a letter/],
    [SETTINGS.slackBotId, /holds what looks like a Slack bot token .*: expected a bot id like B0123ABCD/],
    [SETTINGS.slackBotUserId, /holds what looks like a Slack bot token .*: expected a user id like U0123ABCD/],
  ])(
    'a bot token in %s: the setting is named with the shape it takes, and no piece of the token',
    async (name, message) => {
      for (const json of [false, true]) {
        const stdout = capture();
        const stderr = capture();
        const code = await configCommand(
          { json },
          { stdout: stdout.sink, stderr: stderr.sink, env: { [name]: BOT_TOKEN } },
        );
        expect(code).toBe(1);
        const printed = stdout.text() + stderr.text();
        expect(printed).toContain(name);
        expect(printed).toMatch(message);
        for (const piece of piecesOf(BOT_TOKEN)) expect(printed).not.toContain(piece);
      }
    },
  );

  test.each([
    [
      'a signing secret',
      '8f14e45fceea167a5a36dedd4bea2543',
      'a Slack signing secret (not shown; it belongs in SLACK_SIGNING_SECRET)',
    ],
    ['a user token', 'xoxp-1234567890-0987654321-abcdefabcdef', 'a Slack user token (not shown)'],
    ['an app-level token', 'xapp-1-A0123456789-1234567890-abcdef0123', 'a Slack app-level token (not shown)'],
    ['a storage key', 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUo+/w==', 'a key or token (not shown)'],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl', 'a JWT (not shown)'],
  ])('%s in a setting that echoes its value is named by its shape only', (_what, secret, shown) => {
    const { problems } = readConfig({ [SETTINGS.warnRatio]: secret });
    const problem = problems.find((p) => p.startsWith(SETTINGS.warnRatio));
    expect(problem).toBe(
      `${SETTINGS.warnRatio} holds what looks like ${shown}: expected a share of the allocated ports above 0 and at most 1, like 0.75 (the default).`,
    );
    for (const piece of piecesOf(secret)) expect(problems.join('\n')).not.toContain(piece);
  });

  test('a value that looks like no secret is still quoted, so a typo can be seen', () => {
    const { problems } = readConfig({ [SETTINGS.warnRatio]: '90%', [SETTINGS.taskHubName]: 'snat doctor' });
    expect(problems).toContain(
      `${SETTINGS.warnRatio} is "90%": expected a share of the allocated ports above 0 and at most 1, like 0.75 (the default).`,
    );
    expect(problems).toContain(
      `${SETTINGS.taskHubName} is "snat doctor": a task hub name starts with a letter and has 3-64 letters, digits and hyphens.`,
    );
  });

  test('a JSON setting with a syntax error next to a token: the error says where, not the text around it', () => {
    const { problems } = readConfig({ [SETTINGS.watchClusters]: '[{"subscriptionId": "x", "name": y}]' });
    expect(problems).toContain(
      `${SETTINGS.watchClusters} is not valid JSON (an unexpected character: values are quoted, like "this"): expected [{"subscriptionId": "…", "resourceGroup": "…", "name": "…"}, …].`,
    );
  });

  test('config --settings with a JSON error right after the bot token does not quote the token', async () => {
    const file = join(dir, 'broken.settings.json');
    await writeFile(file, `{"Values": {"SLACK_BOT_TOKEN": "${BOT_TOKEN}" "TASKHUB_NAME": "x"}}`);
    const { code, stdout, stderr } = await run(['config', '--settings', file]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/is not JSON: Expected ',' or '}' after property value in JSON at position \d+/);
    for (const piece of piecesOf(BOT_TOKEN)) expect(stderr).not.toContain(piece);
  });

  test('serve with the bot token in SLACK_SIGNING_SECRET exits 2 naming the setting, and prints none of it', async () => {
    const env = { SLACK_SIGNING_SECRET: BOT_TOKEN, SLACK_BOT_TOKEN: undefined, SNAT_DOCTOR_SLACK_ACCESS: undefined };
    const { code, stdout, stderr } = await run(['serve'], { env });
    expect(code).toBe(2);
    expect(stderr).toContain(
      'SLACK_SIGNING_SECRET holds what looks like a Slack bot token (not shown; it belongs in SLACK_BOT_TOKEN)',
    );
    for (const piece of piecesOf(BOT_TOKEN)) expect(stdout + stderr).not.toContain(piece);
  });
});

describe('the sandbox files are bounded and their JSON errors quote nothing', () => {
  test('diagnose --connect given a directory or a device exits 2 with a message', async () => {
    const directory = await run(['diagnose', '--connect', dir]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toBe(`snat-doctor: --connect ${dir} is a directory: give the file itself.\n`);
    const endless = await run(['diagnose', '--connect', '/dev/zero']);
    expect(endless.code).toBe(2);
    expect(endless.stderr).toMatch(/--connect \/dev\/zero is not a regular file and gave more than 1 MiB/);
  });

  test('a connection file cut short is "not JSON", without quoting its token', async () => {
    const file = join(dir, 'cut.json');
    await writeFile(file, `{"token": "${BOT_TOKEN}" `);
    const { code, stderr } = await run(['diagnose', '--connect', file]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      `snat-doctor: Cannot read the sandbox connection ${file}: it is not JSON (a connection file is written by snat-doctor sandbox).\n`,
    );
  });

  test('sandbox --scenario given a directory exits 2 and says so', async () => {
    const scenarios = join(dir, 'scenarios');
    await mkdir(scenarios, { recursive: true });
    const { code, stderr } = await run(['sandbox', '--kubeconfig', join(dir, 'k'), '--scenario', scenarios]);
    expect(code).toBe(2);
    expect(stderr).toBe(`snat-doctor: --scenario ${scenarios} is a directory: give the file itself.\n`);
    await expect(readFile(join(dir, 'k'))).rejects.toThrow(/ENOENT/);
  });
});
