import { describe, expect, test } from '@jest/globals';
import { DEFAULT_THRESHOLDS, decide, type SnatStanding } from '../../lib/watch/policy.ts';

describe('decide (defaults: warn 75 %, investigate 90 %, any failed connection)', () => {
  test.each<[string, SnatStanding, ReturnType<typeof decide>]>([
    ['well below the warn line', { usedPorts: 100, allocatedPorts: 1000, failedConnections: 0 }, 'ok'],
    ['just below 75 %', { usedPorts: 749, allocatedPorts: 1000, failedConnections: 0 }, 'ok'],
    ['exactly 75 % warns', { usedPorts: 750, allocatedPorts: 1000, failedConnections: 0 }, 'warn'],
    ['exactly 75 % of 1,024 (768) warns', { usedPorts: 768, allocatedPorts: 1024, failedConnections: 0 }, 'warn'],
    ['just below 90 % only warns', { usedPorts: 899, allocatedPorts: 1000, failedConnections: 0 }, 'warn'],
    ['exactly 90 % investigates', { usedPorts: 900, allocatedPorts: 1000, failedConnections: 0 }, 'investigate'],
    ['every port used investigates', { usedPorts: 1024, allocatedPorts: 1024, failedConnections: 0 }, 'investigate'],
    [
      'one failed connection at low use investigates',
      { usedPorts: 10, allocatedPorts: 1024, failedConnections: 1 },
      'investigate',
    ],
    ['failed connections with no port metric investigate', { failedConnections: 3 }, 'investigate'],
    ['no metric at all', {}, 'no-metric'],
    ['used ports without an allocation', { usedPorts: 10, failedConnections: 0 }, 'no-metric'],
    ['nothing allocated (the metric is empty)', { usedPorts: 0, allocatedPorts: 0, failedConnections: 0 }, 'no-metric'],
  ])('%s', (_name, standing, expected) => {
    expect(decide(standing, DEFAULT_THRESHOLDS)).toBe(expected);
  });

  test.each<[string, SnatStanding, ReturnType<typeof decide>]>([
    ['at custom warn 50 %', { usedPorts: 500, allocatedPorts: 1000 }, 'warn'],
    ['at custom investigate 60 %', { usedPorts: 600, allocatedPorts: 1000 }, 'investigate'],
    ['below both', { usedPorts: 499, allocatedPorts: 1000 }, 'ok'],
  ])('custom thresholds: %s', (_name, standing, expected) => {
    expect(decide(standing, { warn: 0.5, investigate: 0.6 })).toBe(expected);
  });
});
