// Step 5: rank the pods, weigh the node's SNAT budget, and say what to do. (Posting to Slack and storing the
// evidence blob join this step in later issues.)
import { connectsTraced } from '../../analysis/connectsTraced.ts';
import { rankCulprits } from '../../analysis/rankCulprits.ts';
import { recommend } from '../../analysis/recommendations.ts';
import { isNatOutbound, natGatewayBudget, snatBudget } from '../../analysis/snatBudget.ts';
import { snatClassifier } from '../../analysis/snatDestination.ts';
import { familyOf, holdAfterCloseSeconds } from '../../analysis/snatModel.ts';
import { summarizeConnections } from '../../analysis/summarizeConnections.ts';
import type { InvestigationRequest, PodConnections, Report, StepOutcome, Unavailable } from '../../model.ts';
import { defineStep } from '../step.ts';
import type { Located } from './locateNode.ts';
import type { Mapped } from './mapPods.ts';

export interface ReportInput {
  instanceId: string;
  request: InvestigationRequest;
  startedAt: string;
  located?: Located;
  pods: PodConnections[];
  /** The node's own sockets outside any pod, from the probe (mapPods). */
  host?: Mapped['host'];
  /** How long the node's tracer really traced, when the probe said (it may have died before the capture's end). */
  tracedSeconds?: number;
  steps: StepOutcome[];
  unavailable: Unavailable[];
}

export const rankAndReport = defineStep<ReportInput, Report>('rankAndReport', async (input) => buildReport(input));

/** Pure: also used by the orchestrator itself when this activity cannot run, so a report always comes out. */
export function buildReport(input: ReportInput, finishedAt: string = new Date().toISOString()): Report {
  const { located } = input;
  const privateRanges = located?.facts.privateRanges ?? [];
  const host =
    input.host &&
    hostConnections(
      input.host,
      privateRanges.map((r) => r.cidr),
    );
  const ranking = rankCulprits(input.pods, {
    // Connects per second over the time the tracer really ran: a tracer that died after 5 s of 30 saw 5 s of connects.
    captureSeconds:
      input.tracedSeconds !== undefined && input.tracedSeconds > 0
        ? Math.min(input.tracedSeconds, input.request.captureSeconds)
        : input.request.captureSeconds,
    holdSeconds: holdAfterCloseSeconds(located?.facts.outboundType),
    ...(host ? { host } : {}),
    ...(located ? { nodeName: located.node.name } : {}),
  });
  const { culprits, workloads } = ranking;
  const ofFamily = (family: 'ipv4' | 'ipv6') => ranking.destinations.filter((d) => familyOf(d.ip) === family);
  const budget = located
    ? snatBudget({ facts: located.facts, backend: located.backend, destinations: ofFamily('ipv4') })
    : undefined;
  const ipv6Budget = located
    ? snatBudget({ facts: located.facts, backend: located.backendIpv6, destinations: ofFamily('ipv6') })
    : undefined;
  const natBudget =
    located && isNatOutbound(located.facts.outboundType)
      ? natGatewayBudget({
          facts: located.facts,
          destinations: ranking.destinations,
          ...(located.gateways ? { gateways: located.gateways } : {}),
          ...(located.survey ? { survey: located.survey } : {}),
        })
      : undefined;
  const recommendations = located
    ? recommend({
        facts: located.facts,
        budget,
        culprits,
        workloads,
        nodeName: located.node.name,
        traced: connectsTraced(input),
        ...(located.survey ? { survey: located.survey } : {}),
      })
    : [];
  return {
    instanceId: input.instanceId,
    cluster: input.request.cluster,
    node: located?.node,
    startedAt: input.startedAt,
    finishedAt,
    requestedBy: input.request.requestedBy,
    budget,
    ...(ipv6Budget ? { ipv6Budget } : {}),
    ...(natBudget ? { natBudget } : {}),
    ...(located?.survey ? { survey: located.survey } : {}),
    culprits,
    workloads,
    privateRanges,
    steps: input.steps,
    recommendations,
    podsExamined: input.pods.length,
    unavailable: input.unavailable,
  };
}

/** The node's own sockets, counted like a pod's. */
function hostConnections(host: NonNullable<Mapped['host']>, privateRanges: string[]): PodConnections {
  return {
    namespace: '',
    pod: 'host network',
    hostNetwork: true,
    source: 'node-snapshot',
    ...summarizeConnections({ sockets: host.sockets, trace: host.trace, isSnat: snatClassifier(privateRanges) }),
  };
}
