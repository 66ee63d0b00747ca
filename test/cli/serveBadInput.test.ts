// `snat-doctor serve` attacked with bad input (issue 14): unusable Slack settings (it printed the error and never
// exited), a port in use (a stack trace), a banner that named C0SANDBOX whatever SNAT_DOCTOR_SLACK_ACCESS said, `%ZZ`
// in an id (500), bodies over 1 MB (500). Each is now an exit 2 with a message, a banner saying what the access
// allows, a 400 or a 413 with a message, and nothing left running.

import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { accessLines, serve, start } from '../../lib/cli/serve.ts';
import { SnatDoctorError } from '../../lib/errors.ts';
import { BodyTooLargeError, MAX_REQUEST_BODY, readBody } from '../../lib/requestBody.ts';
import { parseSlackAccess } from '../../lib/slack/access.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const SECRET = '8f14e45fceea167a5a36dedd4bea2543';
const PROD = {
  alias: 'prod',
  subscriptionId: '11111111-2222-3333-4444-555555555555',
  resourceGroup: 'rg-prod',
  name: 'aks-prod-2',
  channels: ['C0PAYMENTS', 'C0ONCALL01'],
  users: ['U0ALICE001'],
};
const ACCESS = JSON.stringify({ clusters: [PROD] });
const SLACK_SETTINGS = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SNAT_DOCTOR_SLACK_ACCESS'] as const;

/** Runs `body` with the Slack settings given (the rest unset), as serve reads them from the environment. */
async function withSlackEnv<T>(settings: Partial<Record<(typeof SLACK_SETTINGS)[number], string>>, body: () => T) {
  const saved = Object.fromEntries(SLACK_SETTINGS.map((name) => [name, process.env[name]]));
  for (const name of SLACK_SETTINGS) {
    const value = settings[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Listening servers in this process: what a `serve` that failed to start must not leave behind. */
const listeningServers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;

/**
 * Resolves once no more than `count` servers listen. A closed server's handle is released by the event loop after
 * its close callback, so this waits turn by turn; a server left open makes the test time out.
 */
async function serversDownTo(count: number): Promise<number> {
  while (listeningServers() > count) await new Promise((resolve) => setImmediate(resolve));
  return listeningServers();
}

/** The CLI in a child process; the timeout only ends a regression that hangs (the assertions are on the outcome). */
function cli(args: string[], settings: Record<string, string>) {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of SLACK_SETTINGS) delete env[name];
  return promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...env, ...settings }, timeout: 50_000 }).then(
    ({ stdout, stderr }) => ({ code: 0 as number | null, stdout, stderr }),
    (error: { code: number | null; stdout: string; stderr: string }) => error,
  );
}

describe('serve refuses bad settings and ports: exit 2, its message, nothing left running', () => {
  test('unusable Slack settings: serve returns 2 after the message and no server stays open (it hung)', async () => {
    const before = listeningServers();
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await withSlackEnv({ SNAT_DOCTOR_SLACK_ACCESS: 'not json' }, () => serve({ port: 0 }));
      expect(code).toBe(2);
      expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toMatch(
        /^snat-doctor: The Slack settings are not usable:\n {2}SNAT_DOCTOR_SLACK_ACCESS .*JSON/,
      );
    } finally {
      stderr.mockRestore();
    }
    expect(await serversDownTo(before)).toBeLessThanOrEqual(before);
  });

  test('unusable Slack settings: the CLI exits 2 with the message instead of hanging', async () => {
    const result = await cli(['serve'], { SLACK_SIGNING_SECRET: 'not-hex' });
    expect(result).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        'snat-doctor: The Slack settings are not usable:\n' +
        '  SLACK_SIGNING_SECRET does not look like a Slack signing secret (hexadecimal digits).\n',
    });
  });

  test('a port in use is a bad argument naming the port (it was an unhandled error event), and what started is closed', async () => {
    const taken: Server = createTcpServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const refusal = `Port ${port} on 127.0.0.1 is in use by another program: choose another with --port.`;
    try {
      const before = listeningServers();
      const failure = await withSlackEnv({ SLACK_SIGNING_SECRET: SECRET }, () => start({ port })).catch((e) => e);
      expect(failure).toBeInstanceOf(SnatDoctorError);
      expect((failure as Error).message).toBe(refusal);
      expect(await serversDownTo(before)).toBeLessThanOrEqual(before);

      const result = await cli(['serve', '--port', String(port)], { SLACK_SIGNING_SECRET: SECRET });
      expect(result).toMatchObject({ code: 2, stdout: '', stderr: `snat-doctor: ${refusal}\n` });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('the banner says what the Slack access allows (it named C0SANDBOX whatever the setting said)', () => {
  test('the default access: anyone in C0SANDBOX may diagnose the sandbox, and how to change it', () => {
    const sandbox = { subscriptionId: PROD.subscriptionId, resourceGroup: 'rg-payments-prod', name: 'aks-prod' };
    const parsed = parseSlackAccess(
      JSON.stringify({ clusters: [{ alias: 'sandbox', ...sandbox, channels: ['C0SANDBOX'], users: [] }] }),
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(accessLines(parsed.access, { defaultAccess: true, served: sandbox })).toEqual([
      'Allowed from Slack (set SNAT_DOCTOR_SLACK_ACCESS to change it):',
      '  "sandbox" (rg-payments-prod/aks-prod): anyone in channel C0SANDBOX may diagnose it',
    ]);
  });
});

describe('serve with SNAT_DOCTOR_SLACK_ACCESS set, attacked over HTTP', () => {
  let served: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    served = await withSlackEnv({ SLACK_SIGNING_SECRET: SECRET, SNAT_DOCTOR_SLACK_ACCESS: ACCESS }, () =>
      start({ port: 0 }),
    );
  });
  afterAll(async () => {
    await served?.close();
  });

  test('the banner lists the configured clusters, channels and users, and not C0SANDBOX', () => {
    const lines = served.banner.split('\n');
    expect(lines.slice(lines.indexOf('Allowed from Slack (SNAT_DOCTOR_SLACK_ACCESS):'))).toEqual([
      'Allowed from Slack (SNAT_DOCTOR_SLACK_ACCESS):',
      '  "prod" (rg-prod/aks-prod-2): only user U0ALICE001 in channels C0PAYMENTS, C0ONCALL01 may diagnose it',
      "  (none of these is the sandbox's cluster rg-payments-prod/aks-prod: investigations from Slack will not find their cluster)",
    ]);
    expect(served.banner).not.toContain('C0SANDBOX');
  });

  // A well-formed id but for its node, an incomplete percent-escape.
  const NEW_STYLE_ID = 'snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:20260101t000000z-0a1b2c:';
  test.each([
    ['/api/investigations/%ZZ', '"%ZZ"'],
    // Shown up to its first 80 characters.
    [`/api/investigations/${NEW_STYLE_ID}%E0%A4%A`, `${JSON.stringify(`${NEW_STYLE_ID}%E0%A4%A`.slice(0, 80))}…`],
    ['/runtime/webhooks/durabletask/instances/%ZZ', '"%ZZ"'],
  ])('a malformed percent-escape in %s is a 400 saying how to encode the id (was a 500)', async (path, shown) => {
    const response = await fetch(`${served.url}${path}?code=${served.key}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'BAD_ARGUMENT',
      message: expect.stringContaining(`The path segment ${shown} has a malformed percent-escape: write "%" as %25`),
    });
  });

  test('a starter body with a cluster name {"toString": …} is a 400 through serve too (was a 500)', async () => {
    const response = await fetch(`${served.url}/api/investigations?code=${served.key}`, {
      method: 'POST',
      body: JSON.stringify({
        cluster: { subscriptionId: PROD.subscriptionId, resourceGroup: 'rg', name: { toString: 'x' } },
      }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/^"cluster\.name" must be a string/);
  });

  test('a request target that is not a path is a 400', async () => {
    const answer = await rawRequest(served.url, { method: 'GET', path: 'http://[not-a-host/' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ message: expect.stringMatching(/is not a path/) });
  });

  // Bodies are sent over node:http with nothing left unsent beyond what the server reads, so the server's close
  // after the 413 never races a client still writing.
  test.each(['/api/investigations', '/api/slack/events', '/api/alerts/snat', '/elsewhere'])(
    'POST %s declaring a body over 1 MB gets 413 with a message before any of it is read (was a 500)',
    async (path) => {
      const answer = await rawRequest(served.url, {
        path,
        headers: { 'content-length': String(MAX_REQUEST_BODY + 1) },
      });
      expect(answer).toMatchObject({ status: 413, connection: 'close' });
      expect(JSON.parse(answer.body)).toEqual({
        error: 'BAD_ARGUMENT',
        message: 'The request body is larger than 1 MB, the most this endpoint reads: send a smaller body.',
      });
    },
  );

  test('a body over 1 MB with Expect: 100-continue is refused without inviting the body', async () => {
    const answer = await rawRequest(served.url, {
      path: '/api/investigations',
      headers: { 'content-length': String(10 * MAX_REQUEST_BODY), expect: '100-continue' },
    });
    expect(answer).toMatchObject({ status: 413, continued: false });
  });

  test('a chunked body is read up to 1 MB and answered 413 when it passes it, though it never ends', async () => {
    const answer = await rawRequest(served.url, {
      path: '/api/investigations',
      chunks: [Buffer.alloc(MAX_REQUEST_BODY, 0x20), Buffer.from(' ')],
    });
    expect(answer).toMatchObject({ status: 413, connection: 'close' });
  });

  test('a chunked body of exactly 1 MB is read and judged on its content', async () => {
    const answer = await rawRequest(served.url, {
      path: `/api/investigations?code=${served.key}`,
      chunks: [Buffer.alloc(MAX_REQUEST_BODY, 0x20)],
      end: true,
    });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).message).toMatch(/^Send a JSON body/);
  });
});

describe('readBody, which serve and the sandbox endpoints read bodies with', () => {
  test('stops reading an endless body at the bound instead of reading until killed', async () => {
    const chunk = Buffer.alloc(64 * 1024);
    let reads = 0;
    const endless = Object.assign(
      new Readable({
        read() {
          reads += 1;
          this.push(chunk);
        },
      }),
      { headers: {} },
    );
    await expect(readBody(endless as never, MAX_REQUEST_BODY)).rejects.toThrow(BodyTooLargeError);
    const atRejection = reads;
    // Paused: the stream fills at most its own buffer (16 kB high-water mark: one chunk) and is not read again.
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBeLessThanOrEqual(atRejection + 1);
    expect(atRejection).toBeLessThanOrEqual(MAX_REQUEST_BODY / chunk.length + 2);
    endless.destroy();
  });
});

interface RawAnswer {
  status: number;
  connection: string | undefined;
  body: string;
  /** Whether the server sent 100 Continue. */
  continued: boolean;
}

/**
 * One request over node:http on its own connection: the headers, then `chunks` (chunked), ended only when `end`.
 * Resolves with the answer; the request is then destroyed (a body never ended is abandoned).
 */
function rawRequest(
  base: string,
  options: { method?: string; path: string; headers?: Record<string, string>; chunks?: Buffer[]; end?: boolean },
): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(
      {
        host: hostname,
        port,
        method: options.method ?? 'POST',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            connection: res.headers.connection,
            body: Buffer.concat(parts).toString('utf8'),
            continued,
          });
          req.destroy();
        });
      },
    );
    req.on('continue', () => {
      continued = true;
    });
    // Writing after the server closed may fail (EPIPE) once the answer is in; only an error before it counts.
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    if (options.end) req.end();
    else req.flushHeaders();
  });
}
