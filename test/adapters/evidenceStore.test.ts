// The evidence store through the real @azure/storage-blob client: against Azurite (the real Storage emulator, started
// here) for what Storage does — round trips, overwrites, the container made on first use, URLs that name the blob —
// and against a small loopback server for the answers Azurite never gives (throttling, 5xx, a hang).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createEvidenceStore, type EvidenceStoreOptions, evidenceBlobName } from '../../lib/adapters/evidenceStore.ts';
import { SnatDoctorError, TransientError } from '../../lib/errors.ts';
import type { Evidence } from '../../lib/model.ts';
import { AZURITE_ACCOUNT, type Azurite, getBlob, startAzurite } from '../support/azurite.ts';

const INSTANCE = 'snat:rg-payments-prod:aks-prod:aks-nodepool1-31415926-vmss000001';
const STARTED = '2025-06-01T10:00:00.000Z';

/** Evidence of one investigation; overrides for what a test varies. */
function evidence(overrides: Partial<Evidence> = {}, startedAt = STARTED): Evidence {
  const cluster = {
    subscriptionId: '00000000-0000-0000-0000-000000000000',
    resourceGroup: 'rg-payments-prod',
    name: 'aks-prod',
  };
  return {
    instanceId: INSTANCE,
    savedAt: '2025-06-01T10:01:00.000Z',
    request: { cluster, captureSeconds: 30, requestedBy: { kind: 'cli', who: 'test' } },
    report: {
      instanceId: INSTANCE,
      cluster,
      startedAt,
      finishedAt: '2025-06-01T10:00:45.000Z',
      requestedBy: { kind: 'cli', who: 'test' },
      culprits: [],
      workloads: [],
      privateRanges: [],
      steps: [],
      recommendations: [],
      podsExamined: 1,
      unavailable: [],
    },
    pods: [
      {
        namespace: 'payments',
        pod: 'checkout-api-7d9f8b6c5d-x2x9k',
        hostNetwork: false,
        source: 'node-snapshot',
        publicEstablished: 905,
        privateEstablished: 12,
        timeWait: 40,
        privateTimeWait: 0,
        synSent: 0,
        publicConnects: 3600,
        flows: [{ ip: '20.50.2.10', port: 443, protocol: 'tcp', open: 620, timeWait: 40, connects: 3600, failed: 0 }],
      },
    ],
    ...overrides,
  };
}

describe('against Azurite', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  /** A store on a container of its own: every test starts from a container that does not exist yet. */
  let containers = 0;
  const freshStore = (options: Partial<EvidenceStoreOptions> = {}) =>
    createEvidenceStore({
      connectionString: azurite.connectionString,
      container: `evidence-${++containers}`,
      ...options,
    });

  test('what is saved loads back as it was, the container made on first use', async () => {
    const store = freshStore();
    expect(await store.load(INSTANCE)).toBeUndefined(); // no container yet: nothing saved, not an error
    await store.save(INSTANCE, evidence());
    expect(await store.load(INSTANCE)).toEqual(evidence());
  });

  test('the URL names the blob: a signed GET of it returns the evidence as JSON', async () => {
    const store = freshStore({ container: 'evidence-by-url' });
    const { url } = await store.save(INSTANCE, evidence());
    expect(url).toBe(
      `${azurite.url}/${AZURITE_ACCOUNT}/evidence-by-url/snat/rg-payments-prod/aks-prod/aks-nodepool1-31415926-vmss000001/2025-06-01T10-00-00.000Z.json`,
    );
    const blob = await getBlob(url);
    expect(blob.status).toBe(200);
    expect(blob.contentType).toBe('application/json');
    expect(JSON.parse(blob.text)).toEqual(evidence());
  });

  test('saving again (a retried activity) overwrites the same blob', async () => {
    const store = freshStore();
    const first = await store.save(INSTANCE, evidence());
    const again = await store.save(INSTANCE, evidence({ savedAt: '2025-06-01T10:01:05.000Z' }));
    expect(again.url).toBe(first.url);
    expect((await store.load(INSTANCE))?.savedAt).toBe('2025-06-01T10:01:05.000Z');
    expect(JSON.parse((await getBlob(first.url)).text).savedAt).toBe('2025-06-01T10:01:05.000Z');
  });

  test('the next investigation of the same node gets a blob of its own; load returns the latest', async () => {
    const store = freshStore();
    const earlier = await store.save(INSTANCE, evidence());
    const later = await store.save(INSTANCE, evidence({}, '2025-06-01T11:30:00.000Z'));
    expect(later.url).not.toBe(earlier.url);
    expect((await getBlob(earlier.url)).status).toBe(200);
    expect((await store.load(INSTANCE))?.report.startedAt).toBe('2025-06-01T11:30:00.000Z');
    // Another node whose name starts the same is another folder.
    expect(await store.load(`${INSTANCE}0`)).toBeUndefined();
  });

  test('a key Storage refuses is FORBIDDEN, naming the role to grant', async () => {
    const wrongKey = azurite.connectionString.replace(
      /AccountKey=[^;]+/,
      `AccountKey=${Buffer.from('wrong').toString('base64')}`,
    );
    const error = await freshStore({ connectionString: wrongKey })
      .save(INSTANCE, evidence())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnatDoctorError);
    expect(error).not.toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/Storage Blob Data Contributor/) });
  });

  test('a Storage that is not there (Azurite stopped) is a TransientError', async () => {
    const gone = await startAzurite();
    await gone.stop();
    const store = createEvidenceStore({ connectionString: gone.connectionString });
    await expect(store.save(INSTANCE, evidence())).rejects.toThrow(TransientError);
    await expect(store.load(INSTANCE)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('blob names', () => {
  test.each([
    [
      'an id snat-doctor makes: its parts become folders',
      INSTANCE,
      'snat/rg-payments-prod/aks-prod/aks-nodepool1-31415926-vmss000001',
    ],
    ['a node given by IP keeps its dots', 'snat:rg:aks:10.224.0.5', 'snat/rg/aks/10.224.0.5'],
    ['a resource group with parentheses', 'snat:rg(prod):aks:n1', 'snat/rg~28prod~29/aks/n1'],
    ['no part may be "." or "..", or end in a dot', 'snat:..:.:n1.', 'snat/.~2E/~2E/n1~2E'],
    ['an empty part stays a part', 'snat::aks:n1', 'snat/~/aks/n1'],
    ['% and ~ are escaped (the SDK would read %3A as already escaped)', 'a%3A~b', 'a~253A~7Eb'],
    ['non-ASCII as UTF-8 bytes', 'snat:rg-ü:aks:n1', 'snat/rg-~C3~BC/aks/n1'],
  ])('%s', (_, instanceId, prefix) => {
    expect(evidenceBlobName(instanceId, STARTED)).toBe(`${prefix}/2025-06-01T10-00-00.000Z.json`);
  });

  test('the start time is normalised, so names sort by time', () => {
    expect(evidenceBlobName('a', '2025-06-01T10:00:00Z')).toBe('a/2025-06-01T10-00-00.000Z.json');
    expect(() => evidenceBlobName('a', 'yesterday')).toThrow(/startedAt/);
  });
});

describe('failures Azurite never gives', () => {
  let server: Server;
  let base: string;
  let answer: (request: IncomingMessage, response: ServerResponse) => void = () => {};
  const hung: ServerResponse[] = [];
  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => answer(request, response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const response of hung) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A store on the fake endpoint, signed with a SAS that must never show in a URL or a message. */
  const store = (timeoutMs?: number) =>
    createEvidenceStore({ containerUrl: `${base}/acct/evidence?sv=2025-01-05&sig=SECRET`, timeoutMs });

  const storageError = (status: number, code: string, headers: Record<string, string> = {}) => {
    answer = (_, response) => {
      response.writeHead(status, { 'Content-Type': 'application/xml', 'x-ms-error-code': code, ...headers });
      response.end(
        `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
      );
    };
  };

  test.each([
    ['503 ServerBusy with Retry-After', 503, 'ServerBusy', { 'Retry-After': '7' }, 7],
    ['429 with x-ms-retry-after-ms', 429, 'TooManyRequests', { 'x-ms-retry-after-ms': '2500' }, 3],
    ['500 InternalError, no Retry-After', 500, 'InternalError', {}, undefined],
  ])('%s → TransientError carrying the wait', async (_, status, code, headers, wait) => {
    storageError(status, code, headers);
    const error = await store()
      .save(INSTANCE, evidence())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryAfterSeconds).toBe(wait);
    expect((error as Error).message).not.toMatch(/SECRET/);
  });

  test('403 AuthorizationPermissionMismatch → FORBIDDEN naming Storage Blob Data Contributor', async () => {
    storageError(403, 'AuthorizationPermissionMismatch');
    const error = await store()
      .save(INSTANCE, evidence())
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FORBIDDEN', context: { role: 'Storage Blob Data Contributor' } });
    expect((error as Error).message).toMatch(/Grant the app's identity Storage Blob Data Contributor/);
    expect((error as Error).message).not.toMatch(/SECRET/);
  });

  test('a server that never answers → TransientError after the timeout', async () => {
    answer = (_, response) => hung.push(response);
    await expect(store(200).save(INSTANCE, evidence())).rejects.toThrow(/no answer within 200 ms/);
  });

  test('the SAS signs the request, and the URL returned leaves it out', async () => {
    let asked: string | undefined;
    answer = (request, response) => {
      asked = `${request.method} ${request.url}`;
      response.writeHead(201, { ETag: '"0x1"', 'Last-Modified': new Date().toUTCString() });
      response.end();
    };
    const { url } = await store().save(INSTANCE, evidence());
    expect(asked).toMatch(/^PUT \/acct\/evidence\/snat\/.*sig=SECRET/);
    expect(url).toBe(
      `${base}/acct/evidence/snat/rg-payments-prod/aks-prod/aks-nodepool1-31415926-vmss000001/2025-06-01T10-00-00.000Z.json`,
    );
  });
});

describe('options', () => {
  test.each<[string, EvidenceStoreOptions, RegExp]>([
    ['nothing to connect to', {}, /needs one of containerUrl, accountUrl .* or connectionString/],
    [
      'two places at once',
      { containerUrl: 'https://a.blob.core.windows.net/c', accountUrl: 'https://a.blob.core.windows.net' },
      /not containerUrl and accountUrl/,
    ],
    [
      'a container twice',
      { containerUrl: 'https://a.blob.core.windows.net/c', container: 'd' },
      /containerUrl names it already/,
    ],
    [
      'a container name Azure refuses',
      { accountUrl: 'https://a.blob.core.windows.net', container: 'Evidence_2025' },
      /"Evidence_2025" is not valid/,
    ],
    ['a URL that is not one', { accountUrl: 'a.blob.core.windows.net' }, /accountUrl is not a URL/],
    ['a connection string without a key', { connectionString: 'AccountName=a' }, /connectionString is not usable/],
  ])('%s → BAD_ARGUMENT saying so', (_, options, message) => {
    expect(() => createEvidenceStore(options)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });
});
