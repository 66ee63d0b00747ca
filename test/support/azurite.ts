// Azurite, the real Storage emulator, as a child process for one test file: blob service only, on 127.0.0.1 and a
// port the OS picks, data in memory. It is ready when it prints the address it listens on — nothing here waits on a
// timer.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectPath } from '../../lib/projectRoot.ts';

/** Azurite's well-known development account (public, documented: not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The dev account's blob endpoint (path-style): `http://127.0.0.1:PORT/devstoreaccount1`. */
  accountUrl: string;
  connectionString: string;
  stop(): Promise<void>;
}

/** The blob service's entry file, as the package's `azurite-blob` bin names it. */
function blobMain(): string {
  const require = createRequire(projectPath('package.json'));
  const manifest = require.resolve('azurite/package.json');
  const { bin } = require(manifest) as { bin: Record<string, string> };
  return join(manifest, '..', bin['azurite-blob'] ?? 'dist/src/blob/main.js');
}

export async function startAzurite(): Promise<Azurite> {
  // process.execPath: the Node 22 running the tests (Azurite needs >= 22), not whatever `node` is on PATH.
  const child = spawn(
    process.execPath,
    [
      blobMain(),
      '--silent',
      '--inMemoryPersistence',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      // Otherwise it reports usage to Microsoft: tests reach loopback only.
      '--disableTelemetry',
      // The SDK speaks a newer service version than this Azurite release knows; the operations used here are old.
      '--skipApiVersionCheck',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // If the test process ends without afterAll (a crash, a killed worker), the emulator ends with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const url = await listeningUrl(child).catch((error: unknown) => {
    process.removeListener('exit', killOnExit);
    child.kill('SIGKILL');
    throw error;
  });
  const accountUrl = `${url}/${AZURITE_ACCOUNT}`;
  return {
    url,
    accountUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountUrl};`,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGKILL, not SIGTERM: the data is in memory (nothing to flush), and a graceful close would wait for the
      // SDK's keep-alive sockets to time out.
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Resolves with the address once Azurite says it listens; rejects, with what it printed, if it exits first. */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const printed: string[] = [];
    const collect = (line: string) => {
      printed.push(line);
      const match = /successfully listens on (http:\/\/\S+)/.exec(line);
      if (match?.[1]) resolve(match[1].replace(/\/$/, ''));
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', collect);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`Azurite exited (${signal ?? code}) before listening:\n${printed.join('\n')}`)),
    );
  });
}

/**
 * GETs a blob by its URL, signed with the dev account's key (Shared Key, as any Storage client would sign it): a check
 * that a URL really names the blob, independent of the SDK the adapter uses.
 */
export async function getBlob(url: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const { pathname } = new URL(url);
  const headers = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2025-01-05' };
  // VERB, eleven empty standard headers (no body, no conditions), the x-ms- headers, then the resource; with a
  // path-style URL the resource is the account followed by the whole path (which starts with the account again).
  const stringToSign = [
    'GET',
    ...Array(11).fill(''),
    `x-ms-date:${headers['x-ms-date']}`,
    `x-ms-version:${headers['x-ms-version']}`,
    `/${AZURITE_ACCOUNT}${decodeURIComponent(pathname)}`,
  ].join('\n');
  const signature = createHmac('sha256', Buffer.from(AZURITE_KEY, 'base64')).update(stringToSign).digest('base64');
  const response = await fetch(url, {
    headers: { ...headers, Authorization: `SharedKey ${AZURITE_ACCOUNT}:${signature}` },
  });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}
