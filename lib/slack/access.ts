// Who may diagnose what from Slack. One app setting, SNAT_DOCTOR_SLACK_ACCESS, holds JSON:
//
//   { "clusters": [ { "alias": "prod", "subscriptionId": "…", "resourceGroup": "…", "name": "…",
//                     "channels": ["C0123ABCD"], "users": ["U0123ABCD"] } ] }
//
// The rule: a cluster may be diagnosed by a user from a channel when the channel is listed AND (the cluster lists no
// users OR it lists this user). Channels are required, so every cluster names where its investigations are seen;
// users narrow that further. Without an alias, a command means the channel's cluster, and only when the channel
// is listed by exactly one cluster.
import { z } from 'zod';
import type { ClusterRef } from '../model.ts';
import { validateClusterName, validateResourceGroup, validateSubscriptionId } from '../validation.ts';

export interface SlackCluster {
  alias: string;
  ref: ClusterRef;
  /** Slack channel ids (C…, G… or D…) the cluster may be diagnosed from. */
  channels: string[];
  /** Slack user ids (U… or W…) who may diagnose it; empty: anyone in the listed channels. */
  users: string[];
}

export interface SlackAccess {
  clusters: SlackCluster[];
}

export interface Requester {
  user: string;
  channel: string;
}

export type Authorization = { ok: true; cluster: SlackCluster } | { ok: false; message: string };

const ALIAS = /^[a-z0-9-]{1,63}$/;
const CHANNEL_ID = /^[CGD][A-Z0-9]{6,20}$/;
const USER_ID = /^[UW][A-Z0-9]{6,20}$/;

/** A string field checked by one of validation.ts's validators, whose message says what is accepted. */
const validated = (validate: (value: string) => string) =>
  z.string().transform((value, ctx) => {
    try {
      return validate(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

const clusterSchema = z.strictObject({
  alias: z
    .string()
    .regex(ALIAS, 'use 1-63 lower-case letters, digits or "-" (it is what people type after /snat diagnose)'),
  subscriptionId: validated(validateSubscriptionId),
  resourceGroup: validated(validateResourceGroup),
  name: validated(validateClusterName),
  channels: z
    .array(z.string().regex(CHANNEL_ID, 'expected a Slack channel id like C0123ABCD (not a #name)'))
    .min(1, 'list at least one Slack channel id: investigations are posted there'),
  users: z.array(z.string().regex(USER_ID, 'expected a Slack user id like U0123ABCD (not a @name)')).default([]),
});

const accessSchema = z.strictObject({ clusters: z.array(clusterSchema).min(1, 'list at least one cluster') });

/** Parses and validates the setting's JSON; every problem comes back together, each with its field path. */
export function parseSlackAccess(json: string): { ok: true; access: SlackAccess } | { ok: false; problems: string[] } {
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    return { ok: false, problems: [`(the document): not valid JSON (${(error as Error).message})`] };
  }
  const parsed = accessSchema.safeParse(document);
  // Checked on the raw document, so a repeated alias is reported even when other fields are wrong too.
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`)),
    ...repeatedAliases(document),
  ];
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    access: {
      clusters: parsed.data.clusters.map(({ alias, subscriptionId, resourceGroup, name, channels, users }) => ({
        alias,
        ref: { subscriptionId, resourceGroup, name },
        channels,
        users,
      })),
    },
  };
}

function repeatedAliases(document: unknown): string[] {
  const clusters = (document as { clusters?: unknown } | null)?.clusters;
  if (!Array.isArray(clusters)) return [];
  const seen = new Set<unknown>();
  return clusters.flatMap((cluster: unknown, i) => {
    const alias = (cluster as { alias?: unknown } | null)?.alias;
    if (typeof alias !== 'string') return [];
    const repeated = seen.has(alias);
    seen.add(alias);
    return repeated ? [`clusters[${i}].alias: alias "${alias}" is used twice`] : [];
  });
}

/** Every alias configured, for telling a cluster from a node in `/snat diagnose X`. */
export function aliasesOf(access: SlackAccess): string[] {
  return access.clusters.map((cluster) => cluster.alias);
}

/** `/snat diagnose [alias] …`: the cluster meant, if this user may diagnose it from this channel. */
export function authorize(access: SlackAccess, request: Requester & { alias?: string }): Authorization {
  const here = access.clusters.filter((cluster) => cluster.channels.includes(request.channel));
  if (request.alias === undefined) {
    const [only, ...others] = here;
    if (only === undefined) return { ok: false, message: noClusterHere(request.channel) };
    if (others.length > 0) {
      const names = here.map((cluster) => `\`${cluster.alias}\``).join(', ');
      return {
        ok: false,
        message: `This channel can diagnose several clusters (${names}): name one, e.g. \`/snat diagnose ${only.alias}\`.`,
      };
    }
    return userMay(only, request.user);
  }
  const cluster = access.clusters.find((c) => c.alias === request.alias);
  if (cluster === undefined || !cluster.channels.includes(request.channel)) {
    const problem =
      cluster === undefined
        ? `There is no cluster \`${request.alias}\`.`
        : `Cluster \`${request.alias}\` cannot be diagnosed from this channel.`;
    return { ok: false, message: `${problem} ${clustersHere(here, request.channel)}` };
  }
  return userMay(cluster, request.user);
}

/** A button's cluster (subscription, resource group, name): allowed when some configured cluster with that ref is. */
export function authorizeRef(access: SlackAccess, request: Requester, ref: ClusterRef): Authorization {
  const same = access.clusters.filter(
    (c) =>
      c.ref.subscriptionId.toLowerCase() === ref.subscriptionId.toLowerCase() &&
      sameName(c.ref.resourceGroup, ref.resourceGroup) &&
      sameName(c.ref.name, ref.name),
  );
  return firstAllowed(same, request, `Cluster ${ref.resourceGroup}/${ref.name} is not one snat-doctor is set up for.`);
}

export function mayUse(cluster: SlackCluster, request: Requester): boolean {
  return (
    cluster.channels.includes(request.channel) && (cluster.users.length === 0 || cluster.users.includes(request.user))
  );
}

function firstAllowed(candidates: SlackCluster[], request: Requester, unknown: string): Authorization {
  const allowed = candidates.find((cluster) => mayUse(cluster, request));
  if (allowed) return { ok: true, cluster: allowed };
  const [inChannel] = candidates.filter((cluster) => cluster.channels.includes(request.channel));
  if (inChannel) return userMay(inChannel, request.user);
  const [elsewhere] = candidates;
  if (elsewhere) return { ok: false, message: `Cluster \`${elsewhere.alias}\` cannot be diagnosed from this channel.` };
  return { ok: false, message: unknown };
}

function userMay(cluster: SlackCluster, user: string): Authorization {
  if (cluster.users.length === 0 || cluster.users.includes(user)) return { ok: true, cluster };
  return {
    ok: false,
    message: `You are not on the list of people who may diagnose \`${cluster.alias}\`. An admin can add your Slack user id (${user}) to its "users" in SNAT_DOCTOR_SLACK_ACCESS.`,
  };
}

function noClusterHere(channel: string): string {
  return `No cluster can be diagnosed from this channel. An admin can add this channel's id (${channel}) to a cluster's "channels" in SNAT_DOCTOR_SLACK_ACCESS.`;
}

function clustersHere(here: SlackCluster[], channel: string): string {
  if (here.length === 0) return noClusterHere(channel);
  return `From this channel: ${here.map((cluster) => `\`${cluster.alias}\``).join(', ')}.`;
}

/** Resource group and cluster names are case-insensitive in Azure (and lower-cased in instance ids). */
function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** `['clusters', 0, 'alias']` → `clusters[0].alias` */
function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(the document)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join('');
}
