// Names of investigations and of the nodes they run on.
//
// Every investigation has an id of its own (a re-run of a node is a new instance: its history and its Slack report
// are kept beside the earlier ones), made of the cluster (subscription included: two clusters may share a resource
// group and name in different subscriptions), when it was asked for, and the node as asked. Which node it really
// runs on is known only once it has located the node (a name, an IP or "the most exhausted" may all be one node), so
// the one-probe-per-node rule is not in the id: it is the node's registry entity (nodeRegistry.ts), keyed by
// `nodeKey`, that an investigation must hold before it runs anything on the node.
import { createHash } from 'node:crypto';
import { SnatDoctorError } from '../errors.ts';
import type { ClusterRef } from '../model.ts';
import {
  canonicalNode,
  parseNodeSelector,
  validateClusterName,
  validateResourceGroup,
  validateSubscriptionId,
} from '../validation.ts';

/** The orchestrator's registered name. */
export const ORCHESTRATOR_NAME = 'investigate';

/** The node part of an id or key when no node was asked for. */
export const MOST_EXHAUSTED = 'most-exhausted';

// Durable instance ids: 1-256 characters, not starting with "@", without / \ # ? or control characters
// (learn.microsoft.com/azure/azure-functions/durable/durable-functions-orchestrations, "Orchestration identity").
// Validated names never hold those characters; the length is kept by hashing a node name too long to fit.
export const INSTANCE_ID_MAX = 256;

/**
 * The node's key: subscription, resource group, cluster and the node in its one canonical spelling (an IP as
 * `canonicalNode` writes it, a name as Kubernetes does), lower-cased. It keys the node's registry entity and the
 * per-process start lock.
 */
export function nodeKey(cluster: ClusterRef, node: string | undefined): string {
  const key = node === undefined ? MOST_EXHAUSTED : canonicalNode(node);
  return [cluster.subscriptionId, cluster.resourceGroup, cluster.name, key].join(':').toLowerCase();
}

/**
 * A new investigation's id: `snat:{subscription}:{resource group}:{cluster}:{yyyymmddThhmmssZ}-{nonce}:{node}`,
 * lower-case. `nonce` (6 hex digits, random in the starters) keeps two starts in the same second apart. The node
 * comes last because an IPv6 node brings colons of its own.
 */
export function newInvestigationId(cluster: ClusterRef, node: string | undefined, at: Date, nonce: string): string {
  if (!/^[0-9a-f]{6}$/.test(nonce)) throw new Error(`nonce ${JSON.stringify(nonce)} is not 6 hex digits`);
  const stamp = `${at.toISOString().slice(0, 19).replaceAll('-', '').replaceAll(':', '')}Z-${nonce}`;
  const nodePart = node === undefined ? MOST_EXHAUSTED : canonicalNode(node);
  const head = ['snat', cluster.subscriptionId, cluster.resourceGroup, cluster.name, stamp].join(':');
  const id = `${head}:${nodePart}`.toLowerCase();
  if (id.length <= INSTANCE_ID_MAX) return id;
  // A long node name (up to 253 characters) after a long group and cluster name: the node is in the instance's
  // input anyway; the id keeps a digest of it.
  return `${head}:~${createHash('sha256').update(nodePart).digest('hex').slice(0, 16)}`.toLowerCase();
}

/** 6 random hex digits for `newInvestigationId` (starters only: an orchestrator must not use randomness). */
export function randomNonce(): string {
  return crypto.getRandomValues(new Uint8Array(3)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
}

const ID_SHAPE =
  'expected snat:{subscription}:{resource group}:{cluster}:{yyyymmddThhmmssZ}-{6 hex digits}:{node}, lower-case, as a start answer or report shows it';

/**
 * Accepts exactly the shape `newInvestigationId` makes, each part passing the validator the starters use, so that
 * nothing else (paths, query text, control characters) reaches the task hub's API. What the id says is not trusted
 * beyond that: who may read an investigation is decided from the instance's own input (its cluster).
 */
export function checkInvestigationId(id: string): string {
  const refuse = (why: string) => {
    const shown = id.length > 80 ? `${JSON.stringify(id.slice(0, 80))}… (${id.length} characters)` : JSON.stringify(id);
    return new SnatDoctorError('BAD_ARGUMENT', `investigation id ${shown} is not valid: ${why}.`);
  };
  if (id.length > INSTANCE_ID_MAX) throw refuse(`too long (${ID_SHAPE})`);
  // Neither a subscription, a group nor a cluster name holds ":", so the node is everything after the fifth.
  const match = /^snat:([^:]+):([^:]+):([^:]+):(\d{8}t\d{6}z-[0-9a-f]{6}):(.+)$/s.exec(id);
  if (!match) throw refuse(ID_SHAPE);
  const [, subscription = '', resourceGroup = '', name = '', , node = ''] = match;
  try {
    validateSubscriptionId(subscription);
    validateResourceGroup(resourceGroup);
    validateClusterName(name);
    if (node !== MOST_EXHAUSTED && !/^~[0-9a-f]{16}$/.test(node)) parseNodeSelector(node);
  } catch (error) {
    if (error instanceof SnatDoctorError) throw refuse(`${error.message.replace(/\.$/, '')} (${ID_SHAPE})`);
    throw error;
  }
  if (id !== id.toLowerCase()) throw refuse(`ids are lower-case (${ID_SHAPE})`);
  return id;
}
