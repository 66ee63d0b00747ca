// The Functions app's entry as the host loads it (package.json "main": the built bundle) registers every function.
import { readFileSync } from 'node:fs';
import { expect, jest, test } from '@jest/globals';
import { hooks, registrations } from '../../lib/local/functionsCore.cjs';

test('dist/functions.js, the package main, registers the triggers, the orchestrator and every activity', async () => {
  const main = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).main;
  expect(main).toBe('dist/functions.js');
  // A computed specifier: the bundle has no type declarations, and it is built (npm run build) before the tests.
  await import(new URL('../../dist/functions.js', import.meta.url).href);
  expect([...registrations.keys()].sort()).toEqual(
    expect.arrayContaining([
      'alertHook',
      'captureNode',
      'investigate',
      'locateNode',
      'mapPods',
      'notifySlack',
      'podConnections',
      'rankAndReport',
      'slack',
      'snatWatch',
      'startInvestigation',
      'status',
      'storeEvidence',
    ]),
  );
});

test('when the worker starts, the app logs every settings problem at once, by name', async () => {
  await import(new URL('../../dist/functions.js', import.meta.url).href);
  const appStart = hooks.get('appStart') ?? [];
  expect(appStart).toHaveLength(1);
  const logged: string[] = [];
  const spy = jest.spyOn(console, 'error').mockImplementation((text: unknown) => void logged.push(String(text)));
  try {
    // The test process has none of the app settings: each required one is named.
    await appStart[0]?.({ hookData: {} });
  } finally {
    spy.mockRestore();
  }
  expect(logged).toHaveLength(1);
  for (const name of [
    'SLACK_SIGNING_SECRET',
    'SNAT_DOCTOR_WATCH_CLUSTERS',
    'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
  ]) {
    expect(logged[0]).toContain(`${name} is not set`);
  }
});
