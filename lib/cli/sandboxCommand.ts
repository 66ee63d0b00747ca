// `snat-doctor sandbox`: the sandbox served on 127.0.0.1 until interrupted, with a kubeconfig for kubectl.
import { readFile, writeFile } from 'node:fs/promises';
import { SnatDoctorError } from '../errors.ts';
import { type SandboxConnection, startSandbox } from '../sandbox/sandbox.ts';
import { DEFAULT_SCENARIO_PATH, loadScenario } from '../sandbox/scenario.ts';
import { validateClusterRef } from '../validation.ts';
import { badInputExit } from './badInput.ts';

export interface SandboxCommandOptions {
  scenario?: string;
  kubeconfig: string;
  /** Where to write what `diagnose --connect` needs (endpoints, CA, token). */
  connection: string;
  port?: number;
}

export async function serveSandbox(options: SandboxCommandOptions, signal?: AbortSignal): Promise<number> {
  try {
    const scenario = await loadScenario(options.scenario ?? DEFAULT_SCENARIO_PATH);
    const sandbox = await startSandbox(scenario, { latency: true, kubePort: options.port });
    await writeFile(options.kubeconfig, sandbox.kubeconfig(), { mode: 0o600 });
    await writeFile(options.connection, `${JSON.stringify(sandbox.connection(), null, 2)}\n`, { mode: 0o600 });
    const busiest = [...scenario.nodes].sort(
      (a, b) => b.snat.usedPorts / b.snat.allocatedPorts - a.snat.usedPorts / a.snat.allocatedPorts,
    )[0];
    process.stdout.write(
      [
        `Sandbox "${scenario.name}": cluster ${scenario.cluster.name}, ${scenario.nodes.length} nodes.`,
        `  Kubernetes API  ${sandbox.kube.url}   (kubeconfig: ${options.kubeconfig})`,
        `  ARM and metrics ${sandbox.arm.url}`,
        'Try:',
        `  kubectl --kubeconfig ${options.kubeconfig} get nodes -o wide`,
        `  kubectl --kubeconfig ${options.kubeconfig} get pods -A -o wide --field-selector spec.nodeName=${busiest?.name ?? 'NODE'}`,
        `  kubectl --kubeconfig ${options.kubeconfig} exec -n payments POD -- cat /proc/net/tcp`,
        `  snat-doctor diagnose --connect ${options.connection}`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      signal?.addEventListener('abort', stop, { once: true });
    });
    await sandbox.close();
    process.stdout.write('Sandbox stopped.\n');
    return 0;
  } catch (error) {
    return badInputExit(error);
  }
}

/** Reads a connection file written by `snat-doctor sandbox`, checking its shape. */
export async function readConnection(path: string): Promise<SandboxConnection> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `Cannot read the sandbox connection ${path}: ${(error as Error).message}`,
    );
  }
  const c = value as Partial<SandboxConnection>;
  const loopback = (url: unknown) => typeof url === 'string' && /^https:\/\/(127\.0\.0\.1|localhost):\d+$/.test(url);
  if (
    !c?.cluster ||
    !loopback(c.armUrl) ||
    !loopback(c.metricsBase) ||
    typeof c.ca !== 'string' ||
    typeof c.token !== 'string'
  ) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${path} is not a sandbox connection file (written by snat-doctor sandbox; its endpoints must be on 127.0.0.1).`,
    );
  }
  return { ...(c as SandboxConnection), cluster: validateClusterRef(c.cluster) };
}
