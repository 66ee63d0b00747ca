// crictl: the pod sandboxes and containers that the container runtime knows. Format: research/tool-output-formats.md §4.
//
//   `crictl pods [-o json]`     sandbox id → pod namespace/name/uid
//   `crictl ps [-a] [-o json]`  container → its sandbox (`POD ID` / `podSandboxId`)
//   `crictl inspectp <id>…`     sandbox → pause PID (`info.pid`), netns path, pod IP, hostNetwork
//
// JSON is preferred: the tables cut ids to 13 characters, and the uid is missing from them. The tables are still read,
// by the header's column positions (Go's tabwriter left-aligns every cell at its column's start). Cells such as
// CREATED (`About an hour ago`) and headers such as `POD ID` contain single spaces.
// crictl writes its log (`WARN[0000] runtime connect using default endpoints…`) to stderr. When stderr was merged
// into the text, those lines are passed over as a banner, not counted as skipped.
import type { NetnsEntry, SandboxEntry } from '../model.ts';
import { emptyStats, type LineStats, skipLine, splitLines } from './lineStats.ts';

export type SandboxState = 'ready' | 'notready' | 'unknown';
export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface CrictlPod {
  /** The full id (JSON), or its first 13 characters (table): compare ids with `sameSandboxId`. */
  id: string;
  name: string;
  namespace: string;
  /** The pod uid: JSON only (`metadata.uid`). */
  uid?: string;
  state: SandboxState;
  attempt?: number;
  /** Left out for the default handler (the table prints `(default)`, JSON an empty string). */
  runtimeHandler?: string;
  /** As printed: nanoseconds since the epoch (JSON `createdAt`) or a duration (`3 days ago`). */
  created?: string;
  labels?: Record<string, string>;
}

export interface CrictlContainer {
  /** The full id (JSON), or its first 13 characters (table). */
  id: string;
  /** The full sandbox id (JSON), or its first 13 characters (table `POD ID`). */
  podSandboxId: string;
  name: string;
  state: ContainerState;
  attempt?: number;
  image?: string;
  created?: string;
  podName?: string;
  podNamespace?: string;
  /** JSON only (label `io.kubernetes.pod.uid`). */
  podUid?: string;
}

/** A sandbox as `crictl inspectp` describes it, before its netns path is turned into an inode. */
export type SandboxEntryPartial = Pick<SandboxEntry, 'id'> & Partial<Omit<SandboxEntry, 'id'>>;

export interface InspectedSandbox extends SandboxEntryPartial {
  /** `info.pid`: the pause process, whose `/proc/<pid>/ns/net` is the pod's network namespace. */
  pid?: number;
  /** `info.runtimeSpec.linux.namespaces[type=network].path`, e.g. `/var/run/netns/cni-…`; absent for hostNetwork. */
  netnsPath?: string;
  ready?: boolean;
}

interface Unusable {
  /** Why some input was unusable (JSON that does not parse, a table without its header). Its lines are skipped. */
  error?: string;
}

export interface CrictlPodsResult extends LineStats, Unusable {
  sandboxes: CrictlPod[];
}

export interface CrictlPsResult extends LineStats, Unusable {
  containers: CrictlContainer[];
}

export interface CrictlInspectpResult extends LineStats, Unusable {
  /** The first sandbox: the only one when a single id was inspected. */
  sandbox?: InspectedSandbox;
  /** Every sandbox: several ids give an array (or, from older crictl, several concatenated documents). */
  sandboxes: InspectedSandbox[];
}

const LABEL_NAME = 'io.kubernetes.pod.name';
const LABEL_NAMESPACE = 'io.kubernetes.pod.namespace';
const LABEL_UID = 'io.kubernetes.pod.uid';

// ------------------------------------------------------------------------------------------------------------- pods

/** Parses `crictl pods -o json` or the `crictl pods` table. Never throws. */
export function parseCrictlPods(text: string): CrictlPodsResult {
  const stats = { ...emptyStats(), lines: splitLines(text).length };
  if (looksLikeJson(text)) {
    const { values, error } = readJsonList(text, stats, 'items');
    const sandboxes = keep(values, stats, jsonPod, describe);
    return { ...stats, sandboxes, ...(error ? { error } : {}) };
  }
  const { rows, error } = readTable(splitLines(text), stats, {
    first: ['POD ID'],
    required: ['POD ID', 'NAME', 'NAMESPACE', 'STATE'],
  });
  const sandboxes = keep(rows, stats, tablePod, rowLine);
  return { ...stats, sandboxes, ...(error ? { error } : {}) };
}

function jsonPod(item: unknown): CrictlPod | undefined {
  if (!isRecord(item)) return undefined;
  const metadata = asRecord(item.metadata);
  const labels = stringMap(item.labels);
  const id = text(item.id);
  const name = text(metadata?.name) ?? labels?.[LABEL_NAME];
  const namespace = text(metadata?.namespace) ?? labels?.[LABEL_NAMESPACE];
  if (!id || !name || !namespace) return undefined;
  return optional({
    id,
    name,
    namespace,
    uid: text(metadata?.uid) ?? labels?.[LABEL_UID],
    state: sandboxState(item.state),
    attempt: count(metadata?.attempt),
    runtimeHandler: text(item.runtimeHandler),
    created: text(item.createdAt),
    labels,
  });
}

function tablePod({ cells: row }: Row): CrictlPod | undefined {
  const id = row.get('POD ID');
  const attempt = row.get('ATTEMPT');
  if (!isWord(id) || (attempt !== undefined && count(attempt) === undefined)) return undefined;
  const runtime = row.get('RUNTIME');
  return optional({
    id,
    name: row.get('NAME')!,
    namespace: row.get('NAMESPACE')!,
    state: sandboxState(row.get('STATE')),
    attempt: count(attempt),
    runtimeHandler: runtime === '(default)' ? undefined : runtime,
    created: row.get('CREATED'),
  });
}

// --------------------------------------------------------------------------------------------------------------- ps

/** Parses `crictl ps [-a] -o json` or the `crictl ps [-a]` table. Never throws. */
export function parseCrictlPs(text: string): CrictlPsResult {
  const stats = { ...emptyStats(), lines: splitLines(text).length };
  if (looksLikeJson(text)) {
    const { values, error } = readJsonList(text, stats, 'containers');
    const containers = keep(values, stats, jsonContainer, describe);
    return { ...stats, containers, ...(error ? { error } : {}) };
  }
  // Older crictl (and its docs) head the first column `CONTAINER ID`.
  const { rows, error } = readTable(splitLines(text), stats, {
    first: ['CONTAINER', 'CONTAINER ID'],
    required: ['NAME', 'POD ID', 'STATE'],
  });
  const containers = keep(rows, stats, tableContainer, rowLine);
  return { ...stats, containers, ...(error ? { error } : {}) };
}

function jsonContainer(item: unknown): CrictlContainer | undefined {
  if (!isRecord(item)) return undefined;
  const metadata = asRecord(item.metadata);
  const labels = stringMap(item.labels);
  const id = text(item.id);
  const podSandboxId = text(item.podSandboxId);
  const name = text(metadata?.name) ?? labels?.['io.kubernetes.container.name'];
  if (!id || !podSandboxId || !name) return undefined;
  return optional({
    id,
    podSandboxId,
    name,
    state: containerState(item.state),
    attempt: count(metadata?.attempt),
    image: text(asRecord(item.image)?.image) ?? text(item.imageRef),
    created: text(item.createdAt),
    podName: labels?.[LABEL_NAME],
    podNamespace: labels?.[LABEL_NAMESPACE],
    podUid: labels?.[LABEL_UID],
  });
}

function tableContainer({ cells: row }: Row): CrictlContainer | undefined {
  const id = row.get('CONTAINER') ?? row.get('CONTAINER ID');
  const podSandboxId = row.get('POD ID');
  const attempt = row.get('ATTEMPT');
  if (!isWord(id) || !isWord(podSandboxId) || (attempt !== undefined && count(attempt) === undefined)) return undefined;
  return optional({
    id,
    podSandboxId,
    name: row.get('NAME')!,
    state: containerState(row.get('STATE')),
    attempt: count(attempt),
    image: row.get('IMAGE'),
    created: row.get('CREATED'),
    podName: row.get('POD'),
    podNamespace: row.get('NAMESPACE'),
  });
}

// --------------------------------------------------------------------------------------------------------- inspectp

/** Parses `crictl inspectp` (JSON, its default): one object, an array of them, or several concatenated. Never throws. */
export function parseCrictlInspectp(text: string): CrictlInspectpResult {
  const stats = { ...emptyStats(), lines: splitLines(text).length };
  const { documents, error } = readJsonDocuments(text, stats);
  const values = documents.flatMap((document) => (Array.isArray(document.value) ? document.value : [document.value]));
  const sandboxes = keep(values, stats, inspectedSandbox, describe);
  return {
    ...stats,
    ...(sandboxes[0] ? { sandbox: sandboxes[0] } : {}),
    sandboxes,
    ...(error ? { error } : {}),
  };
}

function inspectedSandbox(value: unknown): InspectedSandbox | undefined {
  if (!isRecord(value)) return undefined;
  const status = asRecord(value.status);
  const info = asRecord(value.info);
  const metadata = asRecord(status?.metadata);
  const labels = stringMap(status?.labels);
  const id = text(status?.id);
  if (!id) return undefined;
  const spec = asRecord(asRecord(info?.runtimeSpec)?.linux);
  const specNamespaces = Array.isArray(spec?.namespaces) ? spec.namespaces.filter(isRecord) : undefined;
  const network = specNamespaces?.find((namespace) => namespace.type === 'network');
  // containerd 2.x also records the path in its sandbox metadata (Go field names, no JSON tags).
  const metadataPath = text(asRecord(asRecord(info?.sandboxMetadata)?.Metadata)?.NetNSPath);
  const state = sandboxState(status?.state);
  return optional({
    id,
    namespace: text(metadata?.namespace) ?? labels?.[LABEL_NAMESPACE],
    name: text(metadata?.name) ?? labels?.[LABEL_NAME],
    uid: text(metadata?.uid) ?? labels?.[LABEL_UID],
    hostNetwork: hostNetwork(status, specNamespaces),
    ip: text(asRecord(status?.network)?.ip),
    // containerd reports pid 0 for a sandbox whose pause process is not running.
    pid: count(info?.pid) || undefined,
    netnsPath: text(network?.path) ?? metadataPath,
    ready: state === 'unknown' ? undefined : state === 'ready',
  });
}

/**
 * The CRI's own answer is `status.linux.namespaces.options.network`: `NODE` for a hostNetwork pod, `POD` otherwise.
 * Without it (runtimes that leave it out), a runtime spec that lists namespaces but no `network` one shares the node's.
 */
function hostNetwork(
  status: Record<string, unknown> | undefined,
  specNamespaces: Record<string, unknown>[] | undefined,
): boolean | undefined {
  const options = asRecord(asRecord(asRecord(status?.linux)?.namespaces)?.options);
  if (options?.network === 'NODE') return true;
  if (options?.network === 'POD') return false;
  if (specNamespaces && specNamespaces.length > 0) return !specNamespaces.some((n) => n.type === 'network');
  return undefined;
}

// ------------------------------------------------------------------------------------------------------------- join

/**
 * Sandbox ids from different tools: a table shows the first 13 characters, `pstree` may show a cut id. Two ids are
 * the same sandbox when they are equal, or when the shorter one (12 characters at least, the length Docker shows) starts
 * the longer one.
 */
export function sameSandboxId(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short === long || (short.length >= 12 && long.startsWith(short));
}

/**
 * Paths to netns inodes, from lsns. The NSFS mount (`/run/netns/cni-…`) maps to the namespace inode. So does
 * `/proc/<pid>/ns/net` for the PID that lsns names. lsns names the lowest PID in the namespace. That PID is
 * normally the pause process, whose PID `crictl inspectp` reports as `info.pid`.
 */
export function netnsInodeIndex(namespaces: readonly NetnsEntry[]): Map<string, number> {
  const index = new Map<string, number>();
  for (const namespace of namespaces) {
    index.set(`/proc/${namespace.pid}/ns/net`, namespace.inode);
    if (namespace.path) index.set(namespace.path, namespace.inode);
  }
  return index;
}

/**
 * Joins `crictl pods` with `crictl inspectp` (by id, cut ids allowed) into the model's sandboxes.
 *
 * The netns inode comes from `netnsInodeOfPath` (see `netnsInodeIndex`, or `stat -L -c %i` of each path). It is
 * looked up first by the inspect's netns path (`/var/run/netns/cni-…`). containerd writes that path under
 * `/var/run`, while lsns reads `/run` from mountinfo, so both spellings are tried. If the path is not found, the
 * inode is looked up by `/proc/<info.pid>/ns/net`. hostNetwork sandboxes have no netns of their own, so they get
 * none.
 *
 * Sandboxes that are not ready are left out: their network namespace is torn down, and an old attempt of the same
 * pod would otherwise claim the pod a second time. A sandbox without an inspect is still listed, with what the list
 * says (no netns, `hostNetwork: false`, and an empty uid when the list came from the table).
 */
export function toSandboxEntries(
  pods: readonly CrictlPod[],
  inspects: readonly InspectedSandbox[],
  netnsInodeOfPath: ReadonlyMap<string, number> = new Map(),
): SandboxEntry[] {
  const lookup = (path: string | undefined): number | undefined => {
    if (path === undefined) return undefined;
    const alternate = path.startsWith('/var/run/') ? path.slice('/var'.length) : `/var${path}`;
    return netnsInodeOfPath.get(path) ?? netnsInodeOfPath.get(alternate);
  };
  const used = new Set<InspectedSandbox>();
  const entries: SandboxEntry[] = [];
  const add = (pod: CrictlPod | undefined, inspect: InspectedSandbox | undefined): void => {
    if (pod?.state === 'notready' || inspect?.ready === false) return;
    const ids = [pod?.id, inspect?.id].filter((id): id is string => id !== undefined);
    const id = ids.reduce((longest, next) => (next.length > longest.length ? next : longest), '');
    const namespace = pod?.namespace ?? inspect?.namespace;
    const name = pod?.name ?? inspect?.name;
    if (!namespace || !name) return;
    const hostNetwork = inspect?.hostNetwork ?? false;
    const netns = hostNetwork
      ? undefined
      : (lookup(inspect?.netnsPath) ?? lookup(inspect?.pid === undefined ? undefined : `/proc/${inspect.pid}/ns/net`));
    entries.push({
      id,
      namespace,
      name,
      uid: pod?.uid ?? inspect?.uid ?? '',
      hostNetwork,
      ...(netns !== undefined ? { netns } : {}),
      ...(inspect?.ip ? { ip: inspect.ip } : {}),
    });
  };
  for (const pod of pods) {
    const inspect = inspects.find((candidate) => !used.has(candidate) && sameSandboxId(candidate.id, pod.id));
    if (inspect) used.add(inspect);
    add(pod, inspect);
  }
  // Sandboxes inspected but missing from the list (listed a moment earlier or later) still count.
  for (const inspect of inspects) if (!used.has(inspect)) add(undefined, inspect);
  return entries;
}

// ------------------------------------------------------------------------------------------------------------ input

// logrus, as a terminal shows it (`WARN[0000] …`) or as it is written to a pipe (`time="…" level=warning msg=…`).
const LOG_LINE = /^\s*(?:[A-Z]{4}\[\d+\]|time="[^"]*" level=)/;

function looksLikeJson(text: string): boolean {
  const first = splitLines(text).find((line) => line.trim() !== '' && !LOG_LINE.test(line));
  return first !== undefined && /^\s*[[{]/.test(first);
}

interface JsonDocument {
  value: unknown;
  text: string;
}

/**
 * Cuts the text into top-level JSON values by bracket depth (strings respected), then parses each one. A value that
 * does not parse counts all its lines as skipped. Other text between values is skipped a line at a time, except
 * crictl's log lines.
 */
function readJsonDocuments(text: string, stats: LineStats): { documents: JsonDocument[]; error?: string } {
  const documents: JsonDocument[] = [];
  let error: string | undefined;
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i++;
      continue;
    }
    if (text[i] === '{' || text[i] === '[') {
      const end = documentEnd(text, i);
      const chunk = text.slice(i, end);
      try {
        documents.push({ value: JSON.parse(chunk), text: chunk });
      } catch (cause) {
        error ??= `JSON does not parse: ${(cause as Error).message}`;
        skipLines(stats, chunk);
      }
      i = end;
    } else {
      const newline = text.indexOf('\n', i);
      const end = newline === -1 ? text.length : newline;
      const line = text.slice(i, end);
      if (!LOG_LINE.test(line)) {
        error ??= 'text outside the JSON';
        skipLine(stats, line);
      }
      i = end;
    }
  }
  return { documents, ...(error ? { error } : {}) };
}

function documentEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') depth++;
    else if ((char === '}' || char === ']') && --depth === 0) return i + 1;
  }
  return text.length;
}

/** The entries of `key` (`items`, `containers`) of every document. A document without that list is skipped whole. */
function readJsonList(text: string, stats: LineStats, key: string): { values: unknown[]; error?: string } {
  const read = readJsonDocuments(text, stats);
  let error = read.error;
  const values: unknown[] = [];
  for (const document of read.documents) {
    const list = isRecord(document.value) ? document.value[key] : undefined;
    if (Array.isArray(list)) values.push(...list);
    else {
      error ??= `JSON has no "${key}" list`;
      skipLines(stats, document.text);
    }
  }
  return { values, ...(error ? { error } : {}) };
}

/**
 * Converts each entry and counts the ones that do not convert. In JSON an entry is not a line, so a bad entry counts
 * as one skipped line, and its JSON is the sample.
 */
function keep<T, R>(
  values: T[],
  stats: LineStats,
  convert: (value: T) => R | undefined,
  sample: (value: T) => string,
): R[] {
  const kept: R[] = [];
  for (const value of values) {
    const converted = convert(value);
    if (converted === undefined) skipLine(stats, sample(value));
    else kept.push(converted);
  }
  return kept;
}

interface Row {
  line: string;
  /** Non-empty cells by header name. */
  cells: Map<string, string>;
}

const rowLine = (row: Row): string => row.line;

interface TableShape {
  /** Names the first header cell may have. */
  first: string[];
  required: string[];
}

/**
 * Reads a tabwriter table. Header cells are separated by 3 spaces at least (padding 3), and each one contains single
 * spaces at most. Each cell of a row starts at its header cell's column. A row where the character before a column
 * start is not a space is not aligned with the header, and it is skipped. Cells are trimmed. A missing trailing cell
 * is absent.
 */
function readTable(lines: string[], stats: LineStats, shape: TableShape): { rows: Row[]; error?: string } {
  let columns: { name: string; start: number }[] | undefined;
  const rows: Row[] = [];
  for (const line of lines) {
    if (line.trim() === '' || LOG_LINE.test(line)) continue;
    if (!columns) {
      const cells = [...line.matchAll(/\S+(?: \S+)*/g)].map((match) => ({ name: match[0], start: match.index }));
      const names = cells.map((cell) => cell.name);
      const isHeader =
        cells[0]?.start === 0 &&
        shape.first.includes(names[0]!) &&
        shape.required.every((name) => names.includes(name));
      if (isHeader) columns = cells;
      else skipLine(stats, line);
      continue;
    }
    const aligned = columns.every(({ start }) => start === 0 || line.length <= start || line[start - 1] === ' ');
    if (!aligned) {
      skipLine(stats, line);
      continue;
    }
    const cells = new Map<string, string>();
    columns.forEach(({ name, start }, k) => {
      const cell = line.slice(start, columns![k + 1]?.start ?? line.length).trim();
      if (cell !== '') cells.set(name, cell);
    });
    const complete = shape.required.every((name) => cells.has(name));
    if (complete) rows.push({ line, cells });
    else skipLine(stats, line);
  }
  const error = columns ? undefined : `no header line (${[shape.first[0], ...shape.required].join(', ')})`;
  return { rows, ...(error && stats.skipped > 0 ? { error } : {}) };
}

function skipLines(stats: LineStats, chunk: string): void {
  for (const line of splitLines(chunk)) if (line.trim() !== '') skipLine(stats, line);
}

// ----------------------------------------------------------------------------------------------------------- values

function sandboxState(value: unknown): SandboxState {
  const state = typeof value === 'string' ? value.replace(/^SANDBOX_/, '').toLowerCase() : '';
  return state === 'ready' || state === 'notready' ? state : 'unknown';
}

function containerState(value: unknown): ContainerState {
  const state = typeof value === 'string' ? value.replace(/^CONTAINER_/, '').toLowerCase() : '';
  return state === 'created' || state === 'running' || state === 'exited' ? state : 'unknown';
}

/** A non-negative integer, as a number or as a string of digits (proto3 JSON writes int64 as strings). */
function count(value: unknown): number | undefined {
  const number =
    typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isWord(value: string | undefined): value is string {
  return value !== undefined && /^\S+$/.test(value);
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

/** Drops the keys whose value is undefined, so that results compare and serialise without them. */
function optional<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

function describe(value: unknown): string {
  return String(JSON.stringify(value));
}
