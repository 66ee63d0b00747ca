// The investigation's activities. Adding one: a file in this folder, a line here, a test file.
import { captureNode } from './captureNode.ts';
import { locateNode } from './locateNode.ts';
import { mapPods } from './mapPods.ts';
import { notifySlack } from './notifySlack.ts';
import { podConnections } from './podConnections.ts';
import { rankAndReport } from './rankAndReport.ts';
import { storeEvidence } from './storeEvidence.ts';

export const steps = [
  locateNode,
  captureNode,
  mapPods,
  podConnections,
  rankAndReport,
  notifySlack,
  storeEvidence,
] as const;
