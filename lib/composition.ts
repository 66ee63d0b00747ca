// The composition root: the one place that decides what stands behind the ports. The CLI and the tests install
// ports explicitly (the sandbox's endpoints through the real adapters, in-process scenario ports, or fakes); in Azure
// nothing is installed and the real adapters are built, per subscription, with the app's managed identity.
import { azurePorts } from './adapters/azurePorts.ts';
import { appConfig } from './config.ts';
import type { Ports } from './ports.ts';

let installed: Ports | undefined;

export function usePorts(ports: Ports): void {
  installed = ports;
}

export function ports(): Ports {
  if (installed) return installed;
  // Settings with problems are left out (the problems are logged at start): no Slack posts, no evidence blobs.
  const { slack, evidence } = appConfig();
  installed = azurePorts({
    slackToken: slack.ok ? slack.settings.botToken : undefined,
    evidenceContainerUrl: evidence.ok ? evidence.settings.containerUrl : undefined,
  });
  return installed;
}
