// The local runtime: the app's real function registrations, driven by the in-memory Durable host, with the ports
// the caller chooses (the sandbox's for the CLI, fakes in tests). Outside jest, `installFunctionsCore()` must have run
// before this module loads the app (the CLI's entry does it).
import { usePorts } from '../composition.ts';
import type { Ports } from '../ports.ts';
import { type Clock, InMemoryDurableHost } from './durableHost.ts';
import { registrations } from './functionsCore.cjs';

export interface LocalRuntime {
  host: InMemoryDurableHost;
}

export async function startLocalRuntime(options: {
  ports: Ports;
  clock?: Clock;
  log?: (level: string, message: string) => void;
}): Promise<LocalRuntime> {
  usePorts(options.ports);
  await import('../../functions/index.ts');
  return { host: new InMemoryDurableHost(registrations, { clock: options.clock, log: options.log }) };
}
