// The composition root: the one place that decides what stands behind the ports. The CLI and the tests install
// ports explicitly (the sandbox's endpoints through the real adapters, in-process scenario ports, or fakes); in Azure
// nothing is installed and the real adapters are built, per subscription, with the app's managed identity.
import { azurePorts } from './adapters/azurePorts.ts';
import type { Ports } from './ports.ts';

let installed: Ports | undefined;

export function usePorts(ports: Ports): void {
  installed = ports;
}

export function ports(): Ports {
  installed ??= azurePorts({
    slackToken: process.env.SLACK_BOT_TOKEN || undefined,
    evidenceContainerUrl: process.env.SNAT_DOCTOR_EVIDENCE_CONTAINER_URL || undefined,
  });
  return installed;
}
