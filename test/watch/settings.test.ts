import { describe, expect, test } from '@jest/globals';
import { type Env, readConfig } from '../../lib/config.ts';

const watchSettings = (env: Env) => readConfig(env).watch;

const SUBSCRIPTION = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const clusters = (...list: unknown[]) => JSON.stringify(list);
const cluster = (overrides: Record<string, unknown> = {}) => ({
  subscriptionId: SUBSCRIPTION,
  resourceGroup: 'rg-prod',
  name: 'aks-prod',
  ...overrides,
});

describe('watchSettings', () => {
  test('only the clusters set: the defaults (75 %, 90 %, 30 minutes, a 30-minute horizon)', () => {
    expect(watchSettings({ SNAT_DOCTOR_WATCH_CLUSTERS: clusters(cluster()) })).toEqual({
      ok: true,
      settings: {
        clusters: [{ subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-prod', name: 'aks-prod' }],
        thresholds: { warn: 0.75, investigate: 0.9 },
        cooldownMinutes: 30,
        horizonMinutes: 30,
      },
    });
  });

  test('every setting given', () => {
    const result = watchSettings({
      SNAT_DOCTOR_WATCH_CLUSTERS: clusters(
        cluster(),
        cluster({ subscriptionId: SUBSCRIPTION.toUpperCase(), name: 'b' }),
      ),
      SNAT_DOCTOR_WARN_RATIO: '0.6',
      SNAT_DOCTOR_INVESTIGATE_RATIO: '0.8',
      SNAT_DOCTOR_COOLDOWN_MINUTES: '0',
      SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES: '0',
    });
    expect(result).toMatchObject({
      ok: true,
      settings: { thresholds: { warn: 0.6, investigate: 0.8 }, cooldownMinutes: 0, horizonMinutes: 0 },
    });
    // Subscription ids are normalised as everywhere else (lower case).
    expect(result.ok && result.settings.clusters[1]?.subscriptionId).toBe(SUBSCRIPTION);
  });

  test.each<[string, Record<string, string>, RegExp[]]>([
    ['nothing set', {}, [/^SNAT_DOCTOR_WATCH_CLUSTERS is not set/]],
    ['clusters not JSON', { SNAT_DOCTOR_WATCH_CLUSTERS: '[{' }, [/SNAT_DOCTOR_WATCH_CLUSTERS is not valid JSON/]],
    ['clusters not an array', { SNAT_DOCTOR_WATCH_CLUSTERS: '{}' }, [/expected a JSON array of at least one cluster/]],
    ['an empty list', { SNAT_DOCTOR_WATCH_CLUSTERS: '[]' }, [/at least one cluster/]],
    [
      'a horizon that is not a whole number of minutes',
      { SNAT_DOCTOR_WATCH_CLUSTERS: clusters(cluster()), SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES: '1e3' },
      [/SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES is "1e3": expected a whole number of minutes up to 9999/],
    ],
    [
      'bad and missing cluster fields, each by path',
      {
        SNAT_DOCTOR_WATCH_CLUSTERS: clusters(
          cluster({ subscriptionId: 'not-a-guid' }),
          { resourceGroup: 'rg', name: 'x;rm' },
          cluster({ resourcegroup: 'typo' }),
        ),
      },
      [
        /SNAT_DOCTOR_WATCH_CLUSTERS\[0\]\.subscriptionId: subscription id "not-a-guid" is not valid/,
        /SNAT_DOCTOR_WATCH_CLUSTERS\[1\]\.subscriptionId: missing/,
        /SNAT_DOCTOR_WATCH_CLUSTERS\[1\]\.name: cluster name "x;rm" is not valid/,
        /SNAT_DOCTOR_WATCH_CLUSTERS\[2\]\.resourcegroup: unknown field/,
      ],
    ],
    [
      'the same cluster twice',
      { SNAT_DOCTOR_WATCH_CLUSTERS: clusters(cluster(), cluster({ name: 'AKS-PROD' })) },
      [/SNAT_DOCTOR_WATCH_CLUSTERS\[1\]: the same cluster as SNAT_DOCTOR_WATCH_CLUSTERS\[0\]/],
    ],
    [
      'every bad number at once, with the clusters fine',
      {
        SNAT_DOCTOR_WATCH_CLUSTERS: clusters(cluster()),
        SNAT_DOCTOR_WARN_RATIO: '75',
        SNAT_DOCTOR_INVESTIGATE_RATIO: '90%',
        SNAT_DOCTOR_COOLDOWN_MINUTES: 'half an hour',
      },
      [
        /SNAT_DOCTOR_WARN_RATIO is "75": expected a share/,
        /SNAT_DOCTOR_INVESTIGATE_RATIO is "90%": expected a share/,
        /SNAT_DOCTOR_COOLDOWN_MINUTES is "half an hour": expected a whole number of minutes/,
      ],
    ],
    [
      'warn above investigate',
      { SNAT_DOCTOR_WATCH_CLUSTERS: clusters(cluster()), SNAT_DOCTOR_WARN_RATIO: '0.95' },
      [/SNAT_DOCTOR_WARN_RATIO \(0\.95\) is above SNAT_DOCTOR_INVESTIGATE_RATIO \(0\.9\)/],
    ],
  ])('reports every problem together, by name: %s', (_name, env, expected) => {
    const result = watchSettings(env);
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toHaveLength(expected.length);
    expected.forEach((pattern, i) => {
      expect(problems[i]).toMatch(pattern);
    });
  });
});
