// Every value that can reach a node, a kubectl command or an Azure URL passes one of these strict patterns first.
// Messages say what is accepted, so a user can fix the input.
import ipaddr from 'ipaddr.js';
import { SnatDoctorError } from './errors.ts';
import type { ClusterRef } from './model.ts';

const SUBSCRIPTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure resource group names: 1-90 of letters, digits, underscore, hyphen, period and parentheses, not ending in a
// period. Parentheses are legal in Azure but we refuse them: they buy nothing and read like shell syntax.
const RESOURCE_GROUP = /^[A-Za-z0-9_.-]{0,89}[A-Za-z0-9_-]$/;
// AKS cluster names: 1-63 letters, digits, hyphens and underscores, starting and ending with a letter or digit.
const CLUSTER_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
// Kubernetes node names are DNS subdomains (RFC 1123): lower-case, at most 253 characters.
const NODE_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const CAPTURE_SECONDS = { min: 5, max: 300, default: 30 } as const;

// What each validator accepts, in the words its message uses (the JSON readers below say the same).
const ACCEPTED = {
  subscriptionId: 'expected a GUID like 00000000-0000-0000-0000-000000000000',
  resourceGroup: 'use 1-90 letters, digits, "_", "-" or "." (not ending in ".")',
  clusterName: 'use 1-63 letters, digits, "-" or "_", starting and ending with a letter or digit',
  node: 'give a node name as `kubectl get nodes` shows it (lower-case letters, digits, "-" and ".") or its private IP address',
  captureSeconds: `use a whole number from ${CAPTURE_SECONDS.min} to ${CAPTURE_SECONDS.max}`,
} as const;

function bad(what: string, value: string, accepted: string): SnatDoctorError {
  const shown =
    value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)` : JSON.stringify(value);
  return new SnatDoctorError('BAD_ARGUMENT', `${what} ${shown} is not valid: ${accepted}.`, { context: { what } });
}

export function validateSubscriptionId(value: string): string {
  if (!SUBSCRIPTION_ID.test(value)) throw bad('subscription id', value, ACCEPTED.subscriptionId);
  return value.toLowerCase();
}

export function validateResourceGroup(value: string): string {
  if (!RESOURCE_GROUP.test(value)) throw bad('resource group', value, ACCEPTED.resourceGroup);
  return value;
}

export function validateClusterName(value: string): string {
  if (!CLUSTER_NAME.test(value)) throw bad('cluster name', value, ACCEPTED.clusterName);
  return value;
}

export function validateClusterRef(ref: ClusterRef): ClusterRef {
  return {
    subscriptionId: validateSubscriptionId(ref.subscriptionId),
    resourceGroup: validateResourceGroup(ref.resourceGroup),
    name: validateClusterName(ref.name),
  };
}

export type NodeSelector = { kind: 'name'; name: string } | { kind: 'ip'; ip: string };

/**
 * A node given by the user: its Kubernetes name or its private IP, in one spelling per node. An IPv4 address must be
 * dotted decimal (10.224.0.5); the other forms inet_aton takes (octal 012.224.0.5, hex 0xa.224.0.5, shortened
 * 10.224.5, a bare integer) are refused, not read as another node's name or as the same node under a second
 * spelling. IPv6 comes out in RFC 5952 form (an IPv4-mapped one as its IPv4 address), without a zone (a node's address
 * has none).
 */
export function parseNodeSelector(value: string): NodeSelector {
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return { kind: 'ip', ip: ipaddr.IPv4.parse(value).toString() };
  if (value.includes(':') && !value.includes('%') && ipaddr.IPv6.isValid(value)) {
    const parsed = ipaddr.IPv6.parse(value);
    const ip = parsed.isIPv4MappedAddress() ? parsed.toIPv4Address().toString() : parsed.toString();
    return { kind: 'ip', ip };
  }
  if (ipaddr.isValid(value) || value.includes('%')) {
    throw bad(
      'node',
      value,
      'write an IPv4 address in dotted decimal, like 10.224.0.5, and an IPv6 one without a zone',
    );
  }
  if (NODE_NAME.test(value)) return { kind: 'name', name: value };
  throw bad('node', value, ACCEPTED.node);
}

/** The node as instance ids and locks key it: the name, or the IP in its one spelling. */
export function canonicalNode(value: string): string {
  const selector = parseNodeSelector(value);
  return selector.kind === 'ip' ? selector.ip : selector.name;
}

export function validateCaptureSeconds(value: number): number {
  if (!Number.isInteger(value) || value < CAPTURE_SECONDS.min || value > CAPTURE_SECONDS.max) {
    throw bad('capture seconds', String(value), ACCEPTED.captureSeconds);
  }
  return value;
}

// ---- Fields of a JSON request (the HTTP starter) ----------------------------------------------------------------
// JSON gives any type where a string or a number is expected. Each field's type is checked before its value is:
// outside input is never converted (String() of {"toString": …} throws, of ["x"] passes as "x"; Number() of "0x1e"
// is 30, of [30] is 30, of " 10 " is 10), and the message names the field, what came and what is accepted.

/** A JSON value as a message shows it: `the string "0x1e"`, `an array`, `an object`, `null`, `1.5`. */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const shown =
      value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)` : JSON.stringify(value);
    return `the string ${shown}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : typeof value;
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badField(field: string, message: string): SnatDoctorError {
  return new SnatDoctorError('BAD_ARGUMENT', message, { context: { what: field } });
}

/** Refuses fields other than `allowed`: a misspelt optional field ("secnds") would otherwise be silently ignored. */
export function onlyFields(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length === 0) return;
  const names = unknown.slice(0, 5).map((key) => describeJsonValue(key).replace(/^the string /, ''));
  throw badField(
    where,
    `${where} has unknown field${unknown.length > 1 ? 's' : ''} ${names.join(', ')}${unknown.length > 5 ? ', …' : ''}: ` +
      `it takes ${allowed.map((key) => `"${key}"`).join(', ')}.`,
  );
}

function jsonString(value: unknown, field: string, accepted: string, validate: (value: string) => string): string {
  if (typeof value === 'string') return validate(value);
  throw badField(
    field,
    value === undefined
      ? `"${field}" is required: a string (${accepted}).`
      : `"${field}" must be a string, not ${describeJsonValue(value)}: ${accepted}.`,
  );
}

const CLUSTER_FIELDS = ['subscriptionId', 'resourceGroup', 'name'] as const;

/** `{"subscriptionId", "resourceGroup", "name"}` from a JSON body, every field a string passing its validator. */
export function clusterRefFromJson(value: unknown, field = 'cluster'): ClusterRef {
  const shape = '{"subscriptionId", "resourceGroup", "name"}';
  if (value === undefined) throw badField(field, `"${field}" is required: ${shape}.`);
  if (!isJsonObject(value))
    throw badField(field, `"${field}" must be an object ${shape}, not ${describeJsonValue(value)}.`);
  onlyFields(value, CLUSTER_FIELDS, `"${field}"`);
  return {
    subscriptionId: jsonString(
      value.subscriptionId,
      `${field}.subscriptionId`,
      ACCEPTED.subscriptionId,
      validateSubscriptionId,
    ),
    resourceGroup: jsonString(
      value.resourceGroup,
      `${field}.resourceGroup`,
      ACCEPTED.resourceGroup,
      validateResourceGroup,
    ),
    name: jsonString(value.name, `${field}.name`, ACCEPTED.clusterName, validateClusterName),
  };
}

/** An optional node (name or IP) from a JSON body: absent is undefined; anything else must be a valid node. */
export function nodeFromJson(value: unknown, field = 'node'): string | undefined {
  if (value === undefined) return undefined;
  return jsonString(value, field, ACCEPTED.node, (node) => {
    parseNodeSelector(node);
    return node;
  });
}

/**
 * Optional capture seconds from a JSON body: absent is the default; otherwise a JSON number that is a whole number
 * in range — not a string of one ("30", "0x1e", " 10 "), an array or a boolean.
 */
export function captureSecondsFromJson(value: unknown, field = 'seconds'): number {
  if (value === undefined) return CAPTURE_SECONDS.default;
  if (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= CAPTURE_SECONDS.min &&
    value <= CAPTURE_SECONDS.max
  )
    return value;
  throw badField(
    field,
    `"${field}" must be a whole number from ${CAPTURE_SECONDS.min} to ${CAPTURE_SECONDS.max} written as a JSON number, ` +
      `like "${field}": ${CAPTURE_SECONDS.default} (capture seconds given: ${describeJsonValue(value)}).`,
  );
}
