// What `diagnose` and `serve` share about the probes they run and the sandbox they may be pointed at: a stop (Ctrl-C)
// aborts every probe's wait, whose cleanup deletes its pod, and waits for those deletions before the process leaves.
import { SnatDoctorError } from '../errors.ts';
import type { ClusterRef } from '../model.ts';
import type { Ports } from '../ports.ts';

/** The probe runs in flight over `ports`, so that a stop can wait for their pods to be deleted. */
export function probeRuns(ports: Ports): {
  ports: Ports;
  /** Waits for the runs in flight to end, at most `waitMs`; answers how many had not. */
  settled(waitMs: number): Promise<number>;
} {
  const probing = new Set<Promise<unknown>>();
  return {
    ports: {
      ...ports,
      probe: {
        capture(...args) {
          const run = ports.probe.capture(...args);
          const settled = run.catch(() => undefined).finally(() => probing.delete(settled));
          probing.add(settled);
          return run;
        },
      },
    },
    async settled(waitMs) {
      const cleanup = Promise.allSettled([...probing]);
      await Promise.race([cleanup, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
      return probing.size;
    },
  };
}

/** A sandbox served by `snat-doctor sandbox` in another process (`--connect FILE`); refused together with `--sandbox`. */
export async function connectedSandbox(
  options: { connect: string; sandbox?: string | undefined },
  signal: AbortSignal,
): Promise<{ ports: Ports; cluster: ClusterRef; host: string }> {
  if (options.sandbox !== undefined) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      'Give either --sandbox (a scenario to serve) or --connect (a running sandbox), not both.',
    );
  }
  const { readConnection } = await import('./sandboxCommand.ts');
  const { sandboxPorts } = await import('../sandbox/sandbox.ts');
  const connection = await readConnection(options.connect);
  return {
    ports: sandboxPorts(connection, { signal }),
    cluster: connection.cluster,
    host: new URL(connection.armUrl).host,
  };
}

/** What a stop says about the probe pods, with the command that lists any left. */
export function probesLeftText(left: number, waitMs: number): string {
  return left === 0
    ? 'no probe pod is left running'
    : `a probe pod was still being deleted after ${waitMs / 1000} s: check kubectl get pods -n kube-system -l app.kubernetes.io/name=snat-doctor-probe`;
}
