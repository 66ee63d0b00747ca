// Step 5: rank the pods, weigh the node's SNAT budget, and say what to do. (Posting to Slack and storing the
// evidence blob join this step in later issues.)
import { connectsTraced } from '../../analysis/connectsTraced.ts';
import { rankCulprits } from '../../analysis/rankCulprits.ts';
import { recommend } from '../../analysis/recommendations.ts';
import { snatBudget } from '../../analysis/snatBudget.ts';
import type { InvestigationRequest, PodConnections, Report, StepOutcome, Unavailable } from '../../model.ts';
import { defineStep } from '../step.ts';
import type { Located } from './locateNode.ts';

export interface ReportInput {
  instanceId: string;
  request: InvestigationRequest;
  startedAt: string;
  located?: Located;
  pods: PodConnections[];
  steps: StepOutcome[];
  unavailable: Unavailable[];
}

export const rankAndReport = defineStep<ReportInput, Report>('rankAndReport', async (input) => buildReport(input));

/** Pure: also used by the orchestrator itself when this activity cannot run, so a report always comes out. */
export function buildReport(input: ReportInput, finishedAt: string = new Date().toISOString()): Report {
  const { located } = input;
  const culprits = rankCulprits(input.pods, {
    captureSeconds: input.request.captureSeconds,
    usedPorts: located?.backend?.usedPorts,
  });
  const budget = located ? snatBudget({ facts: located.facts, backend: located.backend, pods: input.pods }) : undefined;
  const recommendations = located
    ? recommend({ facts: located.facts, budget, culprits, nodeName: located.node.name, traced: connectsTraced(input) })
    : [];
  return {
    instanceId: input.instanceId,
    cluster: input.request.cluster,
    node: located?.node,
    startedAt: input.startedAt,
    finishedAt,
    requestedBy: input.request.requestedBy,
    budget,
    culprits,
    steps: input.steps,
    recommendations,
    podsExamined: input.pods.length,
    unavailable: input.unavailable,
  };
}
