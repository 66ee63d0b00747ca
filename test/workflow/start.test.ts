import { describe, expect, test } from '@jest/globals';
import type { InvestigationRequest } from '../../lib/model.ts';
import { checkInvestigationId } from '../../lib/workflow/instanceId.ts';
import { readRegistry, startNewInvestigation, statusOf } from '../../lib/workflow/start.ts';

const request: InvestigationRequest = {
  cluster: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'RG-Prod', name: 'AKS-1' },
  node: 'aks-nodepool1-1-vmss000001',
  captureSeconds: 30,
  requestedBy: { kind: 'cli' },
};

function recordingClient() {
  const starts: { instanceId: string; input: unknown }[] = [];
  return {
    starts,
    async startNew(_name: string, options: { instanceId: string; input: unknown }) {
      starts.push(options);
      return options.instanceId;
    },
  };
}

describe('startNewInvestigation', () => {
  test('every start is a new instance under an id of its own (a re-run never replaces an earlier run)', async () => {
    const client = recordingClient();
    const at = new Date('2026-03-01T12:00:00Z');
    const ids = [
      await startNewInvestigation(client, request, [], at),
      await startNewInvestigation(client, request, [], at),
    ];
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(checkInvestigationId(id)).toBe(id);
    expect(ids[0]).toMatch(
      /^snat:00000000-0000-0000-0000-000000000000:rg-prod:aks-1:20260301t120000z-[0-9a-f]{6}:aks-/,
    );
  });

  test("the app setting's ranges join the request's own, each once; none, and the input is the request as given", async () => {
    const client = recordingClient();
    await startNewInvestigation(client, { ...request, privateRanges: [{ cidr: '30.10.0.0/16', source: 'flag' }] }, [
      { cidr: '30.10.0.0/16', source: 'setting' },
      { cidr: '192.0.2.0/24', source: 'setting' },
    ]);
    await startNewInvestigation(client, request, []);
    expect(client.starts.map((s) => s.input)).toEqual([
      {
        ...request,
        privateRanges: [
          { cidr: '30.10.0.0/16', source: 'flag' },
          { cidr: '192.0.2.0/24', source: 'setting' },
        ],
      },
      request,
    ]);
  });
});

describe('readRegistry and statusOf', () => {
  test('a node never investigated has an empty registry; a state of another shape reads as empty', async () => {
    expect(await readRegistry({ readEntityState: async () => ({ entityExists: false }) }, 'k')).toEqual({
      history: [],
    });
    expect(
      await readRegistry({ readEntityState: async <T>() => ({ entityExists: true, entityState: 7 as T }) }, 'k'),
    ).toEqual({
      history: [],
    });
  });

  test('an unknown instance (HTTP 404) is undefined; other client errors are not mistaken for "not found"', async () => {
    const notFound = async () => {
      throw new Error('DurableClient error: Durable Functions extension replied with HTTP 404 response.');
    };
    expect(await statusOf({ getStatus: notFound }, 'x')).toBeUndefined();
    const broken = async () => {
      throw new Error('DurableClient error: HTTP 500');
    };
    await expect(statusOf({ getStatus: broken }, 'x')).rejects.toThrow(/500/);
  });
});
