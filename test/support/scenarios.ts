// Scenario builders for tests: the built-in default scenario with overrides (faults, a different node …).
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { DEFAULT_SCENARIO_PATH, parseScenario, type Scenario } from '../../lib/sandbox/scenario.ts';

export function defaultScenarioDocument(): Record<string, unknown> {
  return parse(readFileSync(DEFAULT_SCENARIO_PATH, 'utf8')) as Record<string, unknown>;
}

export function scenarioWith(edit: (doc: Record<string, unknown>) => void = () => {}): Scenario {
  const doc = defaultScenarioDocument();
  edit(doc);
  return parseScenario(stringify(doc), 'test-scenario.yaml');
}

export function withFaults(...faults: Record<string, unknown>[]): Scenario {
  return scenarioWith((doc) => {
    doc.faults = faults;
  });
}

/**
 * The request timeout an SDK client under test gets against this scenario's sandbox: `short` when a fault leaves the
 * client waiting (`timeout`, `pending`, `stream-dropped`), so the test ends promptly; otherwise a generous 15 s, because
 * a loaded CI machine once took over 250 ms to answer a plain request. (The Azure SDK's HTTP client clears its timer
 * only once headers arrive, so a request cut off when a test closes its server keeps the timer for the generous bound:
 * a single-file run may wait that long to exit.)
 */
export function clientTimeoutMs(scenario: Scenario, short: number): number {
  const waits = scenario.faults.some((fault) => ['timeout', 'pending', 'stream-dropped'].includes(fault.error));
  return waits ? short : 15_000;
}
