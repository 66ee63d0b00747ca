import { describe, expect, test } from '@jest/globals';
import type { InvestigationRequest } from '../../lib/model.ts';
import { type InvestigationClient, startOrJoin } from '../../lib/workflow/start.ts';

const request: InvestigationRequest = {
  cluster: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'RG-Prod', name: 'AKS-1' },
  node: 'aks-nodepool1-1-vmss000001',
  captureSeconds: 30,
  requestedBy: { kind: 'cli' },
};

/** Behaves like durable-functions' DurableClient: getStatus of an unknown instance throws an HTTP 404 error. */
function fakeClient(statuses: Record<string, string>): InvestigationClient & { started: string[] } {
  const started: string[] = [];
  return {
    started,
    async getStatus(id) {
      const runtimeStatus = statuses[id];
      if (!runtimeStatus)
        throw new Error('DurableClient error: Durable Functions extension replied with HTTP 404 response.');
      return { runtimeStatus };
    },
    async startNew(_name, options) {
      started.push(options.instanceId);
      return options.instanceId;
    },
  };
}

const ID = 'snat:rg-prod:aks-1:aks-nodepool1-1-vmss000001';

describe('startOrJoin', () => {
  test.each([
    ['no investigation yet', {}, false],
    ['a running one', { [ID]: 'Running' }, true],
    ['a pending one', { [ID]: 'Pending' }, true],
    ['a completed one (a new investigation starts)', { [ID]: 'Completed' }, false],
    ['a failed one', { [ID]: 'Failed' }, false],
  ])('with %s', async (_name, statuses, joined) => {
    const client = fakeClient(statuses);
    const result = await startOrJoin(client, request);
    expect(result).toEqual({ instanceId: ID, joined });
    expect(client.started).toEqual(joined ? [] : [ID]);
  });

  test("the app setting's ranges join the request's own, each once; none, and the input is the request as given", async () => {
    const starts: unknown[] = [];
    const client = fakeClient({});
    client.startNew = async (_name, options) => {
      starts.push(options.input);
      return options.instanceId;
    };
    await startOrJoin(client, { ...request, privateRanges: [{ cidr: '30.10.0.0/16', source: 'flag' }] }, [
      { cidr: '30.10.0.0/16', source: 'setting' },
      { cidr: '192.0.2.0/24', source: 'setting' },
    ]);
    await startOrJoin(client, request, []);
    expect(starts).toEqual([
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

  test('other client errors are not mistaken for "not found"', async () => {
    const client = fakeClient({});
    client.getStatus = async () => {
      throw new Error('DurableClient error: HTTP 500');
    };
    await expect(startOrJoin(client, request)).rejects.toThrow(/500/);
  });
});
