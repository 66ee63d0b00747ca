// The evidence of each investigation as a JSON blob in Azure Storage (@azure/storage-blob; this is the only file
// importing it), so a post-mortem does not depend on the Slack thread or on Durable's history — which is replaced
// when the same node is investigated again, since instance ids are per node.
//
// As in the other adapters: the SDK's own retries are off (maxTries 1) so that the orchestrator's retries, with their
// back-off and the server's Retry-After, are the only ones; every call is bounded by our timeout (the SDK's
// `tryTimeoutInMs` only asks the *server* to give up, a hung connection would hang the activity); and failures are
// mapped once, here, to lib/errors.ts.
import type { TokenCredential } from '@azure/core-auth';
import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  isRestError,
  type RestError,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { SnatDoctorError, TransientError } from '../errors.ts';
import type { Evidence } from '../model.ts';
import type { EvidenceStore } from '../ports.ts';

export interface EvidenceStoreOptions {
  /** The container's URL, e.g. `https://acct.blob.core.windows.net/snat-doctor-evidence`; a SAS in it is used. */
  containerUrl?: string;
  /** The account's blob endpoint, e.g. `https://acct.blob.core.windows.net`, with `container`. */
  accountUrl?: string;
  /** The container, with `accountUrl` or `connectionString`; default `snat-doctor-evidence`. */
  container?: string;
  /** An account connection string (Azurite's, or an account key's), with `container`. */
  connectionString?: string;
  /** Signs requests to `containerUrl` / `accountUrl` (a managed identity in Azure). Without it the URL needs a SAS. */
  credential?: TokenCredential;
  /** How long one save or load may go unanswered; default 30 s. */
  timeoutMs?: number;
}

export const DEFAULT_EVIDENCE_CONTAINER = 'snat-doctor-evidence';
const DEFAULT_TIMEOUT_MS = 30_000;
/** The role that grants what the store does (create the container, write, list and read blobs). */
export const EVIDENCE_ROLE = 'Storage Blob Data Contributor';

export function createEvidenceStore(options: EvidenceStoreOptions): EvidenceStore {
  const container = containerClient(options);
  // What messages and the returned URLs show: never a SAS (the URL goes to Slack and into the report).
  const where = withoutQuery(container.url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  /** Runs one store operation under one deadline; every failure leaves here as a coded error. */
  const guarded = async <T>(doing: string, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const abortSignal = AbortSignal.timeout(timeoutMs);
    try {
      return await run(abortSignal);
    } catch (error) {
      if (abortSignal.aborted) {
        throw new TransientError(`${doing} in ${where}: no answer within ${timeoutMs} ms.`, { cause: error });
      }
      throw toEvidenceError(error, doing, where);
    }
  };

  return {
    save: (instanceId, evidence) =>
      guarded(`Storing the evidence of ${instanceId}`, async (abortSignal) => {
        const blob = container.getBlockBlobClient(evidenceBlobName(instanceId, evidence.report.startedAt));
        const body = Buffer.from(JSON.stringify(evidence, null, 2));
        // Put Blob replaces the whole blob: a retried activity writes the same name, and its last attempt wins.
        const upload = () =>
          blob.upload(body, body.length, {
            abortSignal,
            blobHTTPHeaders: { blobContentType: 'application/json' },
          });
        try {
          await upload();
        } catch (error) {
          // The container is created on first use rather than before every save: one request in the steady state,
          // and a SAS scoped to an existing container (which may not create containers) works too.
          if (!isRestError(error) || error.code !== 'ContainerNotFound') throw error;
          await container.createIfNotExists({ abortSignal });
          await upload();
        }
        return { url: withoutQuery(blob.url) };
      }),

    load: (instanceId) =>
      guarded(`Reading the evidence of ${instanceId}`, async (abortSignal) => {
        // Each investigation of the node has its own blob under the instance id's prefix; names end in the start time
        // (fixed width), so the greatest is the latest.
        let latest: string | undefined;
        try {
          for await (const item of container.listBlobsFlat({ prefix: `${instancePrefix(instanceId)}/`, abortSignal })) {
            if (latest === undefined || item.name > latest) latest = item.name;
          }
        } catch (error) {
          if (isRestError(error) && error.code === 'ContainerNotFound') return undefined;
          throw error;
        }
        if (latest === undefined) return undefined;
        const text = (await container.getBlobClient(latest).downloadToBuffer(0, undefined, { abortSignal })).toString(
          'utf8',
        );
        try {
          return JSON.parse(text) as Evidence;
        } catch (error) {
          throw new SnatDoctorError('INTERNAL', `The evidence blob ${latest} in ${where} is not JSON.`, {
            cause: error,
          });
        }
      }),
  };
}

// ── Where the evidence goes ─────────────────────────────────────────────────────────────────────────────────────

/**
 * The blob of one investigation: the instance id's parts as folders, then the start time —
 * `snat:rg-prod:aks-prod:node-1` started at `2025-06-01T10:00:00.000Z` → `snat/rg-prod/aks-prod/node-1/2025-06-01T10-00-00.000Z.json`.
 * The start time is part of the name because an instance id names a node, not an investigation: the next
 * investigation of the node must not overwrite this one's evidence; a retried activity has the same start time, so
 * it overwrites its own blob and nothing else.
 */
export function evidenceBlobName(instanceId: string, startedAt: string): string {
  const at = new Date(startedAt);
  if (Number.isNaN(at.getTime())) {
    throw new SnatDoctorError('BAD_ARGUMENT', `The report's startedAt (${startedAt}) is not a time.`);
  }
  // toISOString has a fixed width, so names sort by time; colons go because they are escaped in URLs.
  return `${instancePrefix(instanceId)}/${at.toISOString().replaceAll(':', '-')}.json`;
}

/**
 * The instance id as a blob path, readable for the ids snat-doctor makes and safe for any other. `:` separates
 * folders; in a part, anything but letters, digits, `-`, `_` and `.` becomes `~XX` (its UTF-8 bytes), so no part
 * holds a `/`, a `%` (the SDK would read `%3A` in a name as already escaped) or a `\`; a part that is empty or ends
 * in a dot (Azure: "no path segment should end with a dot"; `.` and `..` would be resolved away by URL parsers) is
 * escaped too. `~` itself is escaped, so two ids never share a prefix.
 */
function instancePrefix(instanceId: string): string {
  return instanceId
    .split(':')
    .map((part) => {
      if (part === '') return '~';
      const escaped = part.replace(/[^A-Za-z0-9._-]/gu, (ch) =>
        [...Buffer.from(ch, 'utf8')].map((byte) => `~${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
      );
      return escaped.endsWith('.') ? `${escaped.slice(0, -1)}~2E` : escaped;
    })
    .join('/');
}

function containerClient(options: EvidenceStoreOptions): ContainerClient {
  const { containerUrl, accountUrl, connectionString } = options;
  const given = [containerUrl && 'containerUrl', accountUrl && 'accountUrl', connectionString && 'connectionString'];
  const chosen = given.filter((name): name is string => Boolean(name));
  if (chosen.length !== 1) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      chosen.length === 0
        ? 'The evidence store needs one of containerUrl, accountUrl (with container) or connectionString (with container).'
        : `The evidence store takes one of containerUrl, accountUrl and connectionString, not ${chosen.join(' and ')}.`,
    );
  }
  if (containerUrl && options.container) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      'The evidence store takes container only with accountUrl or connectionString: containerUrl names it already.',
    );
  }
  const name = options.container ?? DEFAULT_EVIDENCE_CONTAINER;
  if (!containerUrl) checkContainerName(name);
  const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 1 } };
  const credential = options.credential ?? new AnonymousCredential();
  try {
    if (connectionString) return new ContainerClient(connectionString, name, pipeline);
    if (accountUrl)
      return new BlobServiceClient(checkUrl('accountUrl', accountUrl), credential, pipeline).getContainerClient(name);
    return new ContainerClient(checkUrl('containerUrl', containerUrl ?? ''), credential, pipeline);
  } catch (error) {
    if (error instanceof SnatDoctorError) throw error;
    // The SDK's parse failures of a connection string say what is missing, never the key.
    const said = error instanceof Error ? error.message : String(error);
    throw new SnatDoctorError('BAD_ARGUMENT', `The evidence store's connectionString is not usable: ${said}`, {
      cause: error,
    });
  }
}

function checkUrl(option: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SnatDoctorError('BAD_ARGUMENT', `The evidence store's ${option} is not a URL: ${withoutQuery(url)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new SnatDoctorError('BAD_ARGUMENT', `The evidence store's ${option} must be an http(s) URL.`);
  }
  return url;
}

/** Azure's container naming rules: 3–63 characters, lowercase letters, digits and single hyphens, not at the ends. */
function checkContainerName(name: string): void {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `The evidence container name "${name}" is not valid: 3–63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.`,
    );
  }
}

function withoutQuery(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}

// ── Failures ────────────────────────────────────────────────────────────────────────────────────────────────────

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AuthenticationRequiredError']);

/** The one normaliser at the Storage edge: what is worth retrying becomes a TransientError, the rest say what to fix. */
export function toEvidenceError(error: unknown, doing: string, where: string): Error {
  if (error instanceof SnatDoctorError) return error;
  if (error instanceof Error && CREDENTIAL_ERRORS.has(error.name)) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `${doing}: no Azure credential could get a token for Storage (${firstLine(error.message)}). Give the app a managed identity with ${EVIDENCE_ROLE} on the storage account.`,
      { cause: error },
    );
  }
  if (!isRestError(error)) {
    const said = error instanceof Error ? error.message : String(error);
    return new SnatDoctorError('INTERNAL', `${doing} in ${where} failed: ${firstLine(said)}`, { cause: error });
  }
  const status = error.statusCode;
  if (status === undefined) return fromTransport(error, doing, where);
  const said = `HTTP ${status}${error.code ? ` ${error.code}` : ''}`;
  // 409 ContainerBeingDeleted: the container was deleted a moment ago, and can be created again in a while.
  if (status === 429 || status === 408 || status >= 500 || error.code === 'ContainerBeingDeleted') {
    return new TransientError(`${doing} in ${where}: Storage answered ${said}.`, {
      cause: error,
      retryAfterSeconds: retryAfter(error),
    });
  }
  if (status === 401 || status === 403) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `${doing} in ${where} was refused (${said}). Grant the app's identity ${EVIDENCE_ROLE} on the storage account or the container; with an account key or a SAS instead, check that it is current (and that a SAS allows read, write, create and list).`,
      { cause: error, context: { status, storageError: error.code, role: EVIDENCE_ROLE } },
    );
  }
  return new SnatDoctorError('INTERNAL', `${doing} in ${where}: Storage answered ${said}.`, {
    cause: error,
    context: { status, storageError: error.code },
  });
}

/** A request that got no answer at all. */
function fromTransport(error: RestError, doing: string, where: string): Error {
  const code = error.code ?? '';
  if (code === 'ENOTFOUND') {
    // A name that does not resolve is a wrong account name far more often than a DNS hiccup (that is EAI_AGAIN).
    return new SnatDoctorError(
      'BAD_ARGUMENT',
      `${doing}: no storage account answers at ${where} (ENOTFOUND). Check the account name in the evidence store's URL.`,
      { cause: error },
    );
  }
  if (NETWORK_CODES.has(code)) {
    return new TransientError(`${doing} in ${where}: the connection failed (${code}: ${firstLine(error.message)}).`, {
      cause: error,
    });
  }
  return new SnatDoctorError('INTERNAL', `${doing} in ${where} failed: ${firstLine(error.message)}`, { cause: error });
}

/** Retry-After in whole seconds: `x-ms-retry-after-ms` / `retry-after-ms` first, then `Retry-After` (seconds or a date). */
function retryAfter(error: RestError, now: Date = new Date()): number | undefined {
  const headers = error.response?.headers;
  const ms = headers?.get('x-ms-retry-after-ms') ?? headers?.get('retry-after-ms');
  if (ms && /^\d+$/.test(ms.trim())) return Math.ceil(Number(ms) / 1000);
  const header = headers?.get('retry-after')?.trim();
  if (!header) return undefined;
  if (/^\d+$/.test(header)) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 400);
}
