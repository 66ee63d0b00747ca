import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { InvestigationRequest, Report } from '../../lib/model.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';

export function requestFor(scenario: Scenario, overrides: Partial<InvestigationRequest> = {}): InvestigationRequest {
  return {
    cluster: {
      subscriptionId: scenario.cluster.subscriptionId,
      resourceGroup: scenario.cluster.resourceGroup,
      name: scenario.cluster.name,
    },
    captureSeconds: 30,
    requestedBy: { kind: 'cli', who: 'test' },
    ...overrides,
  };
}

/** Runs one investigation on the sandbox through the real registrations and the in-memory host (virtual time). */
export async function investigateOn(scenario: Scenario, overrides: Partial<InvestigationRequest> = {}) {
  const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock: new VirtualClock() });
  const instanceId = await startNewInvestigation(host, requestFor(scenario, overrides));
  const status = await host.waitForCompletion(instanceId);
  return { host, instanceId, status, report: status.output as Report };
}

const TASK_SCHEDULED = 4;
const TASK_COMPLETED = 5;
const TASK_FAILED = 6;
const TIMER_CREATED = 10;

/** The activity calls in a history, in order, with how each ended. */
export function activityTimeline(history: { EventType: number; [key: string]: unknown }[]) {
  const names = new Map<number, string>();
  const timeline: { event: 'scheduled' | 'completed' | 'failed' | 'timer'; name: string; id: number }[] = [];
  for (const e of history) {
    if (e.EventType === TASK_SCHEDULED) {
      names.set(e.EventId as number, e.Name as string);
      timeline.push({ event: 'scheduled', name: e.Name as string, id: e.EventId as number });
    } else if (e.EventType === TASK_COMPLETED || e.EventType === TASK_FAILED) {
      const id = e.TaskScheduledId as number;
      timeline.push({ event: e.EventType === TASK_COMPLETED ? 'completed' : 'failed', name: names.get(id) ?? '?', id });
    } else if (e.EventType === TIMER_CREATED) {
      timeline.push({ event: 'timer', name: 'timer', id: e.EventId as number });
    }
  }
  return timeline;
}
