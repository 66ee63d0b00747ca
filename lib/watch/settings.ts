// The watch's settings, read from an environment object (the app settings in Azure) and validated together: every
// missing or bad setting is reported at once, by name. Kept small and pure over `env` so it can move into the central
// config module as it is.
import type { ClusterRef } from '../model.ts';
import { validateClusterName, validateResourceGroup, validateSubscriptionId } from '../validation.ts';
import { DEFAULT_COOLDOWN_MINUTES, DEFAULT_THRESHOLDS, type Thresholds } from './policy.ts';

export const WATCH_SETTINGS = {
  clusters: 'SNAT_DOCTOR_WATCH_CLUSTERS',
  warnRatio: 'SNAT_DOCTOR_WARN_RATIO',
  investigateRatio: 'SNAT_DOCTOR_INVESTIGATE_RATIO',
  cooldownMinutes: 'SNAT_DOCTOR_COOLDOWN_MINUTES',
} as const;

export interface WatchSettings {
  clusters: ClusterRef[];
  thresholds: Thresholds;
  cooldownMinutes: number;
}

export type WatchSettingsResult = { ok: true; settings: WatchSettings } | { ok: false; problems: string[] };

const CLUSTER_FIELDS = {
  subscriptionId: validateSubscriptionId,
  resourceGroup: validateResourceGroup,
  name: validateClusterName,
} as const;
const CLUSTER_SHAPE = '{"subscriptionId": "…", "resourceGroup": "…", "name": "…"}';

export function watchSettings(env: Record<string, string | undefined>): WatchSettingsResult {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };

  const clustersJson = get(WATCH_SETTINGS.clusters);
  let clusters: ClusterRef[] = [];
  if (clustersJson === undefined) {
    problems.push(
      `${WATCH_SETTINGS.clusters} is not set: a JSON array of the clusters to watch, [${CLUSTER_SHAPE}, …].`,
    );
  } else {
    clusters = parseClusters(clustersJson, problems);
  }

  const warn = ratio(get(WATCH_SETTINGS.warnRatio), WATCH_SETTINGS.warnRatio, DEFAULT_THRESHOLDS.warn, problems);
  const investigate = ratio(
    get(WATCH_SETTINGS.investigateRatio),
    WATCH_SETTINGS.investigateRatio,
    DEFAULT_THRESHOLDS.investigate,
    problems,
  );
  if (warn !== undefined && investigate !== undefined && warn > investigate) {
    problems.push(
      `${WATCH_SETTINGS.warnRatio} (${warn}) is above ${WATCH_SETTINGS.investigateRatio} (${investigate}): a node is warned about before it is investigated.`,
    );
  }

  const cooldownText = get(WATCH_SETTINGS.cooldownMinutes);
  const cooldownMinutes = cooldownText === undefined ? DEFAULT_COOLDOWN_MINUTES : Number(cooldownText);
  if (cooldownText !== undefined && !/^\d+$/.test(cooldownText)) {
    problems.push(
      `${WATCH_SETTINGS.cooldownMinutes} is "${cooldownText}": expected a whole number of minutes (0 for none; default ${DEFAULT_COOLDOWN_MINUTES}).`,
    );
  }

  if (problems.length > 0 || warn === undefined || investigate === undefined) return { ok: false, problems };
  return { ok: true, settings: { clusters, thresholds: { warn, investigate }, cooldownMinutes } };
}

function parseClusters(json: string, problems: string[]): ClusterRef[] {
  const name = WATCH_SETTINGS.clusters;
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    problems.push(`${name} is not valid JSON (${(error as Error).message}): expected [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  if (!Array.isArray(document) || document.length === 0) {
    problems.push(`${name}: expected a JSON array of at least one cluster, [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  const clusters: ClusterRef[] = [];
  const seen = new Map<string, number>();
  document.forEach((entry: unknown, i) => {
    const where = `${name}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected ${CLUSTER_SHAPE}.`);
      return;
    }
    const fields = entry as Record<string, unknown>;
    const before = problems.length;
    for (const key of Object.keys(fields)) {
      if (!(key in CLUSTER_FIELDS)) problems.push(`${where}.${key}: unknown field (expected ${CLUSTER_SHAPE}).`);
    }
    const ref: Record<string, string> = {};
    for (const [field, validate] of Object.entries(CLUSTER_FIELDS)) {
      const value = fields[field];
      if (typeof value !== 'string') {
        problems.push(`${where}.${field}: missing (a string is expected).`);
        continue;
      }
      try {
        ref[field] = validate(value);
      } catch (error) {
        problems.push(`${where}.${field}: ${(error as Error).message}`);
      }
    }
    if (problems.length > before) return;
    const cluster = ref as unknown as ClusterRef;
    const key = `${cluster.subscriptionId}/${cluster.resourceGroup}/${cluster.name}`.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${where}: the same cluster as ${name}[${first}].`);
    else seen.set(key, i);
    clusters.push(cluster);
  });
  return clusters;
}

/** A share in (0, 1]; the default when unset, undefined (and a problem) when malformed. */
function ratio(text: string | undefined, name: string, fallback: number, problems: string[]): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(value > 0 && value <= 1)) {
    problems.push(
      `${name} is "${text}": expected a share of the allocated ports above 0 and at most 1, like ${fallback} (the default).`,
    );
    return undefined;
  }
  return value;
}
