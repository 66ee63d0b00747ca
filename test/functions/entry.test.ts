// The Functions app's entry as the host loads it (package.json "main": the built bundle) registers every function.
import { readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import { registrations } from '../../lib/local/functionsCore.cjs';

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
