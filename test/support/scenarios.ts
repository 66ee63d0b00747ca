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
