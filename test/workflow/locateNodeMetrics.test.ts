// locateNode without a node asked for picks the node using the largest share of its SNAT ports. When the metrics
// cannot be read at all (issue 14: a missing Monitoring Reader role), the failure says that, not "No node has SNAT
// metrics", which sends the reader looking for a metrics problem that is really a permission.
import type { InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { locateNode } from '../../lib/workflow/steps/locateNode.ts';
import { scenarioWith } from '../support/scenarios.ts';

const context = {} as InvocationContext;

describe('locateNode when the SNAT metrics cannot be read', () => {
  test('without a node: the failure names the missing permission and how to grant it', async () => {
    const scenario = scenarioWith((doc) => {
      doc.azure = { roleAssignments: [{ role: 'snat-doctor cluster investigator', scope: 'cluster' }] };
    });
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    const result = await locateNode.run(
      { cluster: { subscriptionId, resourceGroup, name } },
      scenarioPorts(scenario),
      context,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('NO_METRICS');
    expect(result.message).toMatch(
      /^The SNAT metrics could not be read, so the most exhausted node cannot be chosen: /,
    );
    expect(result.message).toContain('Monitoring Reader');
    expect(result.message).not.toContain('No node has SNAT metrics');
  });

  test('with a node named: the node is still investigated, and the notes say the metrics were unavailable', async () => {
    const scenario = scenarioWith((doc) => {
      doc.azure = { roleAssignments: [{ role: 'snat-doctor cluster investigator', scope: 'cluster' }] };
    });
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    const node = scenario.nodes[1]?.name ?? '';
    const result = await locateNode.run(
      { cluster: { subscriptionId, resourceGroup, name }, node },
      scenarioPorts(scenario),
      context,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.node.name).toBe(node);
    expect(result.value.notes.join(' ')).toMatch(/SNAT metrics unavailable: .*Monitoring Reader/);
  });
});
