import { expect, test } from '@jest/globals';
import { InMemoryDurableHost } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';

test('toy', async () => {
  const df = await import('durable-functions');
  let fails = 1;
  df.app.activity('hello', {
    handler: async (x: string) => {
      if (x === 'B' && fails-- > 0) throw new Error('flaky');
      return `Hello ${x}`;
    },
  });
  df.app.orchestration('toy', function* (context) {
    context.df.setCustomStatus({ step: 1 });
    const retry = new df.RetryOptions(1000, 3);
    const a: string[] = yield context.df.Task.all(
      ['A', 'B', 'C'].map((x) => context.df.callActivityWithRetry('hello', retry, x)),
    );
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
    return a.join(',');
  });
  const host = new InMemoryDurableHost(registrations);
  const id = await host.startNew('toy', { input: 1 });
  const s = await host.waitForCompletion(id);
  console.log(s.runtimeStatus, s.output, s.history.map((e) => e.EventType).join(' '));
  expect(s.output).toBe('Hello A,Hello B,Hello C');
});
