// What a Slack user typed after `/snat`, and what a button sent back, turned into validated data. The text is split
// on whitespace and nothing else: no quotes, escapes, globbing or substitution, because no shell ever sees it. Every
// value then passes the same strict patterns as the CLI's (lib/validation.ts), so what reaches the workflow is a
// cluster alias, a node name or IP, a number, or an instance id — never text that could mean something else.
import { SnatDoctorError } from '../errors.ts';
import type { ClusterRef } from '../model.ts';
import { CAPTURE_SECONDS, parseNodeSelector, validateCaptureSeconds, validateClusterRef } from '../validation.ts';
import { checkInvestigationId } from '../workflow/instanceId.ts';

export type SnatCommand =
  | {
      kind: 'diagnose';
      /** A cluster alias from SNAT_DOCTOR_SLACK_ACCESS; absent: the channel's only cluster. */
      alias?: string;
      /** A node name or IP in canonical form; absent: the most exhausted node. */
      node?: string;
      seconds: number;
    }
  | { kind: 'status'; instanceId?: string }
  /** A node's running and latest investigations, from its registry (by name: registries are kept by node name). */
  | { kind: 'history'; alias?: string; node: string }
  | { kind: 'help' };

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export const USAGE = {
  diagnose: '`/snat diagnose [cluster] [node-name|node-ip] [--seconds N]`',
  status: '`/snat status [id | [cluster] node-name]`',
  help: '`/snat help`',
} as const;

/** Longer than any valid command (alias 63 + node 253 + option): anything longer is refused before it is split. */
export const MAX_COMMAND_LENGTH = 500;
/** Slack's limit on a button's value; the renderer keeps its values under it. */
export const MAX_BUTTON_VALUE_LENGTH = 2000;

const ALIAS = /^[a-z0-9-]{1,63}$/;
// Line breaks (including U+2028/2029) and other control characters: a command is one line of printable text. A tab
// is whitespace like a space.
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const TAB = '\t';

/**
 * `text` as Slack sends it for `/snat`. `aliases` are the configured cluster aliases: they decide whether a single
 * positional argument names a cluster or a node (an alias wins; give both to reach a node named like an alias).
 */
export function parseSnatCommand(text: string, aliases: readonly string[]): Parsed<SnatCommand> {
  try {
    return { ok: true, value: parse(text, aliases) };
  } catch (error) {
    if (error instanceof SnatDoctorError) return { ok: false, message: error.message };
    throw error;
  }
}

function parse(text: string, aliases: readonly string[]): SnatCommand {
  if (text.length > MAX_COMMAND_LENGTH) {
    throw badCommand(`The command is ${text.length} characters long; /snat accepts at most ${MAX_COMMAND_LENGTH}.`);
  }
  if (CONTROL.test(text.replaceAll(TAB, ' '))) {
    throw badCommand('The command contains a line break or a control character; write it on one line.');
  }
  const [verb, ...args] = text.trim().split(/\s+/u).filter(Boolean);
  switch (verb?.toLowerCase()) {
    case undefined:
    case 'help':
      return { kind: 'help' };
    case 'diagnose':
      return parseDiagnose(args, aliases);
    case 'status':
      return parseStatus(args, aliases);
    default:
      throw badCommand(
        `Unknown command ${shown(verb ?? '')}: use ${USAGE.diagnose}, ${USAGE.status} or ${USAGE.help}.`,
      );
  }
}

function parseDiagnose(args: string[], aliases: readonly string[]): SnatCommand {
  const positional: string[] = [];
  let seconds: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    // Node names and aliases never start with "-", so anything that does is an option.
    if (!arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const [flag, inline] = splitOption(arg);
    if (flag !== '--seconds') {
      throw badCommand(`Unknown option ${shown(flag)}: diagnose accepts --seconds N. Usage: ${USAGE.diagnose}.`);
    }
    if (seconds !== undefined) throw badCommand(`--seconds is given twice. Usage: ${USAGE.diagnose}.`);
    const value = inline ?? args[++i];
    if (value === undefined) throw badCommand(`--seconds needs a number. Usage: ${USAGE.diagnose}.`);
    seconds = parseSeconds(value);
  }
  if (positional.length > 2) {
    throw badCommand(
      `diagnose takes at most a cluster and a node, not ${positional.length} arguments. Usage: ${USAGE.diagnose}.`,
    );
  }
  const command: SnatCommand = { kind: 'diagnose', seconds: seconds ?? CAPTURE_SECONDS.default };
  const [first, second] = positional;
  if (second !== undefined) {
    command.alias = parseAlias(first ?? '');
    command.node = parseNode(second);
  } else if (first !== undefined) {
    if (aliases.includes(first)) command.alias = first;
    else command.node = parseNode(first);
  }
  return command;
}

function parseStatus(args: string[], aliases: readonly string[]): SnatCommand {
  if (args.length > 2) {
    throw badCommand(`status takes an investigation id, or a cluster and a node. Usage: ${USAGE.status}.`);
  }
  const [first, second] = args;
  if (first === undefined) return { kind: 'status' };
  if (second === undefined && first.toLowerCase().startsWith('snat:')) {
    const parsed = parseInvestigationId(first);
    if (!parsed.ok) throw badCommand(parsed.message);
    return { kind: 'status', instanceId: first };
  }
  const alias = second !== undefined ? parseAlias(first) : undefined;
  const nodeArg = second ?? first;
  if (second === undefined && aliases.includes(first)) {
    throw badCommand(`\`${first}\` is a cluster: give its node too. Usage: ${USAGE.status}.`);
  }
  const node = parseNodeSelector(nodeArg);
  if (node.kind !== 'name') {
    throw badCommand(
      `${shown(nodeArg)} is an IP: a node's investigations are kept by its name (\`kubectl get nodes -o wide\` shows both). Usage: ${USAGE.status}.`,
    );
  }
  return { kind: 'history', ...(alias ? { alias } : {}), node: node.name };
}

/** `--seconds=30` → ['--seconds', '30']; `--seconds` → ['--seconds', undefined]. */
function splitOption(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

function parseSeconds(value: string): number {
  // Digits only: Number() would also take "0x1e", " 30", "3e1" and "Infinity".
  if (!/^\d{1,6}$/.test(value)) {
    throw badCommand(
      `capture seconds ${shown(value)} is not valid: use a whole number from ${CAPTURE_SECONDS.min} to ${CAPTURE_SECONDS.max}.`,
    );
  }
  return validateCaptureSeconds(Number(value));
}

function parseAlias(value: string): string {
  if (!ALIAS.test(value)) {
    throw badCommand(
      `cluster ${shown(value)} is not valid: give a cluster alias (1-63 lower-case letters, digits or "-"), as \`/snat help\` lists them.`,
    );
  }
  return value;
}

/** The node in the form the instance id uses: an IP normalised (IPv4-mapped IPv6 unwrapped), a name as given. */
function parseNode(value: string): string {
  const node = parseNodeSelector(value);
  return node.kind === 'ip' ? node.ip : node.name;
}

// --- Investigation ids ---

/** An id as `newInvestigationId` makes it (lib/workflow/instanceId.ts); who may read it is decided by its cluster. */
export function parseInvestigationId(id: string): Parsed<string> {
  try {
    return { ok: true, value: checkInvestigationId(id) };
  } catch (error) {
    if (error instanceof SnatDoctorError) return { ok: false, message: error.message };
    throw error;
  }
}

// --- Button values ---

export interface ButtonRequest {
  cluster: ClusterRef;
  node?: string;
  seconds: number;
}

/**
 * A `snat_rerun` / `snat_capture_longer` button's value: JSON `{cluster: {subscriptionId, resourceGroup, name},
 * node?, seconds}`. It came back from a Slack client, so it is validated exactly like typed input (and authorised
 * again by the caller): a button is a convenience, not a credential.
 */
export function parseButtonValue(value: string | undefined): Parsed<ButtonRequest> {
  const rejected = (why: string): Parsed<ButtonRequest> => ({
    ok: false,
    message: `This button's value was refused: ${why} Use \`/snat diagnose\` instead.`,
  });
  if (value === undefined || value.length === 0) return rejected('it is empty.');
  if (value.length > MAX_BUTTON_VALUE_LENGTH)
    return rejected(`it is longer than ${MAX_BUTTON_VALUE_LENGTH} characters.`);
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return rejected('it is not JSON.');
  }
  if (!isRecord(json)) return rejected('it is not a JSON object.');
  const unknown = Object.keys(json).filter((key) => !['cluster', 'node', 'seconds'].includes(key));
  if (unknown.length > 0) return rejected(`it has unknown fields (${unknown.map(shown).join(', ')}).`);
  const { cluster, node, seconds } = json;
  if (!isRecord(cluster)) return rejected('"cluster" must be {"subscriptionId", "resourceGroup", "name"}.');
  const clusterKeys = Object.keys(cluster).filter((key) => !['subscriptionId', 'resourceGroup', 'name'].includes(key));
  if (clusterKeys.length > 0) return rejected(`"cluster" has unknown fields (${clusterKeys.map(shown).join(', ')}).`);
  const { subscriptionId, resourceGroup, name } = cluster;
  if (typeof subscriptionId !== 'string' || typeof resourceGroup !== 'string' || typeof name !== 'string') {
    return rejected('"cluster" must have string "subscriptionId", "resourceGroup" and "name".');
  }
  if (node !== undefined && node !== null && typeof node !== 'string') return rejected('"node" must be a string.');
  if (seconds !== undefined && typeof seconds !== 'number') return rejected('"seconds" must be a number.');
  try {
    const request: ButtonRequest = {
      cluster: validateClusterRef({ subscriptionId, resourceGroup, name }),
      seconds: validateCaptureSeconds(seconds ?? CAPTURE_SECONDS.default),
    };
    if (typeof node === 'string') request.node = parseNode(node);
    return { ok: true, value: request };
  } catch (error) {
    if (error instanceof SnatDoctorError) return rejected(error.message);
    throw error;
  }
}

// --- Messages ---

function badCommand(message: string): SnatDoctorError {
  return new SnatDoctorError('BAD_ARGUMENT', message);
}

/** A value as messages show it: quoted, and cut when long (the same form as validation.ts's messages). */
function shown(value: string): string {
  return value.length > 80
    ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)`
    : JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
