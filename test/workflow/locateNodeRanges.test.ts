// locateNode merges the ranges the asker adds (InvestigationRequest.privateRanges) into the cluster's facts, and
// carries the facts' notes (a VNet that could not be read) into the investigation's notes.

import type { InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { locateNode } from '../../lib/workflow/steps/locateNode.ts';
import { scenarioWith } from '../support/scenarios.ts';

const context = {} as InvocationContext;

function byoVnet(faults: Record<string, unknown>[] = []) {
  return scenarioWith((doc) => {
    Object.assign(doc.cluster as object, { vnet: { name: 'vnet-prod', addressSpace: ['30.10.0.0/16'] } });
    doc.faults = faults;
  });
}

describe('locateNode and private ranges', () => {
  test("the request's ranges join the facts', each once, the facts' source kept", async () => {
    const scenario = byoVnet();
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    const result = await locateNode.run(
      {
        cluster: { subscriptionId, resourceGroup, name },
        privateRanges: [
          { cidr: '30.10.0.0/16', source: 'flag' },
          { cidr: '192.0.2.0/24', source: 'setting' },
        ],
      },
      scenarioPorts(scenario),
      context,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.facts.privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: '192.0.2.0/24', source: 'setting' },
    ]);
    expect(result.value.notes).toEqual([]);
  });

  test('a VNet the identity may not read: the step succeeds, and its notes say which VNet and what to grant', async () => {
    const scenario = byoVnet([{ target: 'arm.getVirtualNetwork', error: 'forbidden' }]);
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    const result = await locateNode.run(
      { cluster: { subscriptionId, resourceGroup, name } },
      scenarioPorts(scenario),
      context,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.facts.privateRanges.map((r) => r.source)).toEqual(['pods', 'services']);
    expect(result.value.notes).toEqual([
      expect.stringMatching(/^VNet vnet-prod .*HTTP 403.*Microsoft\.Network\/virtualNetworks\/read/),
    ]);
  });
});
