// The ports the Functions app builds in Azure (nothing installed): real adapters per subscription, SDKs loaded on first
// use. Here pointed at the sandbox's endpoints, with a stub credential that records what it was asked for.

import type { TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { azurePorts } from '../../lib/adapters/azurePorts.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { Report } from '../../lib/model.ts';
import { issueToken } from '../../lib/sandbox/entra.ts';
import { type RunningSandbox, startSandbox } from '../../lib/sandbox/sandbox.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { requestFor } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';

let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox(scenarioWith());
});
afterAll(async () => {
  await sandbox.close();
});

test('an investigation through the per-subscription adapters, asking the credential for ARM and metrics tokens only', async () => {
  const { token, armUrl, metricsBase, ca } = sandbox.connection();
  const scopes: string[] = [];
  const credential: TokenCredential = {
    getToken: async (scope) => {
      scopes.push(...[scope].flat());
      // The sandbox's Entra ID: a token for the scope asked for, which its endpoints check.
      return { token: issueToken(token, [scope].flat()[0] ?? ''), expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
  const ports = azurePorts({
    credential,
    endpoints: {
      armEndpoint: armUrl,
      metricsEndpoint: (location) => `${metricsBase}/regions/${location.toLowerCase()}`,
      tlsCa: ca,
      pollIntervalMs: 1,
    },
    kubernetes: { pollIntervalMs: 1 },
  });
  const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
  const instanceId = await startNewInvestigation(host, requestFor(sandbox.scenario));
  const report = (await host.waitForCompletion(instanceId)).output as Report;
  expect(report.steps.map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
  expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  expect(new Set(scopes)).toEqual(
    new Set(['https://management.azure.com/.default', 'https://metrics.monitor.azure.com/.default']),
  );
  expect(sandbox.cluster.leftoverPods()).toEqual([]);
});
