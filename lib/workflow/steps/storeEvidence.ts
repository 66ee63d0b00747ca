// Keeping the evidence (not one of the five investigation steps: a failure here never changes the report, it is only
// named in it). One JSON blob per investigation with what every step gathered, so a post-mortem has the metrics, the
// node capture and the per-pod tables long after the Slack thread and the Durable history are gone.
import { SnatDoctorError } from '../../errors.ts';
import type { Evidence, InvestigationRequest, NodeCapture, PodConnections, Report } from '../../model.ts';
import { defineStep } from '../step.ts';

/** What the orchestrator gathered; the capture is already aggregated on the node, so this stays small. */
export interface StoreEvidenceInput {
  instanceId: string;
  request: InvestigationRequest;
  report: Report;
  located?: Evidence['located'];
  capture?: NodeCapture;
  pods: PodConnections[];
}

export const storeEvidence = defineStep<StoreEvidenceInput, { url: string }>('storeEvidence', async (input, ports) => {
  if (!ports.evidence) throw new SnatDoctorError('NOT_BUILT', 'No evidence store is configured.');
  return ports.evidence.save(input.instanceId, evidenceOf(input));
});

export function evidenceOf(input: StoreEvidenceInput, savedAt: string = new Date().toISOString()): Evidence {
  return {
    instanceId: input.instanceId,
    savedAt,
    request: input.request,
    report: input.report,
    ...(input.located ? { located: input.located } : {}),
    ...(input.capture ? { capture: input.capture } : {}),
    pods: input.pods,
  };
}
