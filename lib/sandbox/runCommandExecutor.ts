// What AKS's runCommand pod does with snat-doctor's probe command, played against the simulated cluster: create the
// probe pod from the manifest in the command's context, wait for it, print its logs, delete it whatever happened.
// The sandbox runs no shell: it recognises the command lib/probe/probePod.ts writes (its real-shell behaviour is
// tested with the real kubectl against the sandbox's Kubernetes API) and refuses anything else, as a sandbox should.
import { EXIT } from '../probe/probePod.ts';
import type { RunCommandExecutor } from './armServer.ts';
import { KubeStatusError, type SandboxCluster } from './sandboxCluster.ts';

const CREATE = /^kubectl create --validate=false -f ([a-z0-9.-]+) /m;
const NAMES = /^POD=(snat-doctor-probe-[a-z0-9]{8}); NS=([a-z0-9-]+); DEADLINE=\$\(\( \$\(date \+%s\) \+ (\d+) \)\)$/m;
const POLL_SECONDS = 2;

export interface ExecutorOptions {
  /** Real time per poll of the probe pod (the simulated 2 s); tests pass 0. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function runCommandExecutor(cluster: SandboxCluster, options: ExecutorOptions = {}): RunCommandExecutor {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pollMs = options.pollMs ?? 20;
  return async (request, signal) => {
    const create = CREATE.exec(request.command);
    const names = NAMES.exec(request.command);
    const manifestText = create ? request.files[create[1] as string] : undefined;
    if (!create || !names || manifestText === undefined) {
      return {
        exitCode: 127,
        logs: "sandbox: this sandbox's runCommand runs only snat-doctor's probe command (lib/probe/probePod.ts)\n",
      };
    }
    const [, pod = '', namespace = '', budget = '0'] = names;
    try {
      await cluster.createPod(namespace, JSON.parse(manifestText));
    } catch (error) {
      return { exitCode: EXIT.createFailed, logs: `Error from server: ${describe(error)}\n` };
    }
    try {
      let phase = '';
      for (let waited = 0; ; waited += POLL_SECONDS) {
        phase = String((await cluster.getPod(namespace, pod)).status?.phase ?? '');
        if (phase === 'Succeeded' || phase === 'Failed') break;
        if (waited >= Number(budget) || signal.aborted) {
          const pending = await cluster.getPod(namespace, pod);
          const conditions = (pending.status?.conditions ?? []) as { type?: string; message?: string }[];
          const why = conditions.find((c) => c.type === 'PodScheduled')?.message ?? '';
          return {
            exitCode: EXIT.notFinished,
            logs: `probe pod ${pod} did not finish: phase ${phase || 'unknown'}: ${why}\n`,
          };
        }
        await sleep(pollMs);
      }
      const logs = await cluster.podLogs(namespace, pod);
      return { exitCode: phase === 'Succeeded' ? EXIT.created : EXIT.podFailed, logs };
    } finally {
      // The script's EXIT trap.
      await cluster.deletePod(namespace, pod).catch(() => undefined);
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof KubeStatusError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
