// The composition root: the one place that decides what stands behind the ports. The CLI and the tests install
// ports explicitly (the sandbox's, or fakes); in Azure the SDK adapters are built from configuration.
import { SnatDoctorError } from './errors.ts';
import type { Ports } from './ports.ts';

let installed: Ports | undefined;

export function usePorts(ports: Ports): void {
  installed = ports;
}

export function ports(): Ports {
  if (!installed) {
    throw new SnatDoctorError(
      'NOT_BUILT',
      'No adapters are configured. The Azure and Kubernetes SDK adapters are not built yet (issue #4); ' +
        'run an investigation on the sandbox instead: snat-doctor diagnose [--sandbox FILE].',
    );
  }
  return installed;
}
