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

function bad(what: string, value: string, accepted: string): SnatDoctorError {
  const shown =
    value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)` : JSON.stringify(value);
  return new SnatDoctorError('BAD_ARGUMENT', `${what} ${shown} is not valid: ${accepted}.`, { context: { what } });
}

export function validateSubscriptionId(value: string): string {
  if (!SUBSCRIPTION_ID.test(value))
    throw bad('subscription id', value, 'expected a GUID like 00000000-0000-0000-0000-000000000000');
  return value.toLowerCase();
}

export function validateResourceGroup(value: string): string {
  if (!RESOURCE_GROUP.test(value)) {
    throw bad('resource group', value, 'use 1-90 letters, digits, "_", "-" or "." (not ending in ".")');
  }
  return value;
}

export function validateClusterName(value: string): string {
  if (!CLUSTER_NAME.test(value)) {
    throw bad(
      'cluster name',
      value,
      'use 1-63 letters, digits, "-" or "_", starting and ending with a letter or digit',
    );
  }
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

/** A node given by the user: its Kubernetes name or its private IP. */
export function parseNodeSelector(value: string): NodeSelector {
  if (ipaddr.isValid(value)) {
    const parsed = ipaddr.parse(value);
    const ip =
      parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
        ? (parsed as ipaddr.IPv6).toIPv4Address().toString()
        : parsed.toString();
    return { kind: 'ip', ip };
  }
  if (NODE_NAME.test(value)) return { kind: 'name', name: value };
  throw bad(
    'node',
    value,
    'give a node name as `kubectl get nodes` shows it (lower-case letters, digits, "-" and ".") or its private IP address',
  );
}

export function validateCaptureSeconds(value: number): number {
  if (!Number.isInteger(value) || value < CAPTURE_SECONDS.min || value > CAPTURE_SECONDS.max) {
    throw bad(
      'capture seconds',
      String(value),
      `use a whole number from ${CAPTURE_SECONDS.min} to ${CAPTURE_SECONDS.max}`,
    );
  }
  return value;
}
