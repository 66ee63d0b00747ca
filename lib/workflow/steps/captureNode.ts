// Step 2: one probe run on the node — a bounded connection trace, the netns and pod-sandbox inventory, and a socket
// snapshot per network namespace — in a single round trip (each costs tens of seconds on AKS).
import type { ClusterFacts, NodeCapture, NodeInfo } from '../../model.ts';
import { defineStep } from '../step.ts';

export interface CaptureInput {
  facts: ClusterFacts;
  node: NodeInfo;
  seconds: number;
}

export const captureNode = defineStep<CaptureInput, NodeCapture>('captureNode', (input, ports) =>
  ports.probe.capture(input.facts, input.node, { seconds: input.seconds }),
);
