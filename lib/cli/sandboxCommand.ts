// `snat-doctor sandbox`: the sandbox served on 127.0.0.1 until interrupted, with a kubeconfig for kubectl. Whatever
// stops it (Ctrl-C, a path it cannot write, a port it cannot take) closes what it started, so the process exits.
import { writeFile } from 'node:fs/promises';
import { SnatDoctorError } from '../errors.ts';
import { readInputText } from '../readInput.ts';
import { shellQuoted } from '../render/shellQuoted.ts';
import { terminalSafe } from '../render/terminalSafe.ts';
import { type RunningSandbox, type SandboxConnection, startSandbox } from '../sandbox/sandbox.ts';
import { DEFAULT_SCENARIO_PATH, MAX_SCENARIO_BYTES, parseScenario } from '../sandbox/scenario.ts';
import { validateClusterRef } from '../validation.ts';
import { badInputExit } from './badInput.ts';

/** A connection file is a few kB (endpoints, a CA certificate, a token). */
const MAX_CONNECTION_BYTES = 1024 * 1024;

export interface SandboxCommandOptions {
  scenario?: string;
  kubeconfig: string;
  /** Where to write what `diagnose --connect` needs (endpoints, CA, token). */
  connection: string;
  port?: number;
}

export async function serveSandbox(options: SandboxCommandOptions, signal?: AbortSignal): Promise<number> {
  let sandbox: RunningSandbox | undefined;
  try {
    const path = options.scenario ?? DEFAULT_SCENARIO_PATH;
    const scenario = parseScenario(await readInputText(path, '--scenario', MAX_SCENARIO_BYTES), path);
    sandbox = await startSandbox(scenario, { latency: true, kubePort: options.port }).catch((error: unknown) => {
      throw listenError(error, options.port);
    });
    await writeOutput(options.kubeconfig, '--kubeconfig', sandbox.kubeconfig());
    await writeOutput(options.connection, '--connection', `${JSON.stringify(sandbox.connection(), null, 2)}\n`);
    const busiest = [...scenario.nodes].sort(
      (a, b) => b.snat.usedPorts / b.snat.allocatedPorts - a.snat.usedPorts / a.snat.allocatedPorts,
    )[0];
    // The paths are the user's: quoted for the shell in the commands, and printed without terminal controls.
    const kubeconfig = shellQuoted(options.kubeconfig);
    process.stdout.write(
      terminalSafe(
        [
          `Sandbox "${scenario.name}": cluster ${scenario.cluster.name}, ${scenario.nodes.length} nodes.`,
          `  Kubernetes API  ${sandbox.kube.url}   (kubeconfig: ${options.kubeconfig})`,
          `  ARM and metrics ${sandbox.arm.url}`,
          'Try:',
          `  kubectl --kubeconfig ${kubeconfig} get nodes -o wide`,
          `  kubectl --kubeconfig ${kubeconfig} get pods -A -o wide --field-selector spec.nodeName=${busiest?.name ?? 'NODE'}`,
          `  kubectl --kubeconfig ${kubeconfig} exec -n payments POD -- cat /proc/net/tcp`,
          `  snat-doctor diagnose --connect ${shellQuoted(options.connection)}`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      ),
    );
    await stopped(signal);
    const running = sandbox;
    sandbox = undefined;
    await running.close();
    process.stdout.write('Sandbox stopped.\n');
    return 0;
  } catch (error) {
    return badInputExit(error);
  } finally {
    await sandbox?.close();
  }
}

/** Until Ctrl-C, SIGTERM or `signal`. */
function stopped(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
}

async function writeOutput(path: string, option: string, text: string): Promise<void> {
  try {
    await writeFile(path, text, { mode: 0o600 });
  } catch (error) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${option} ${path}: cannot write it (${(error as Error).message}). Give a file path in a directory that exists ` +
        'and you may write to.',
      { cause: error },
    );
  }
}

/** A port the Kubernetes API cannot listen on is the argument's fault; any other failure is a bug. */
function listenError(error: unknown, port: number | undefined): unknown {
  if (port === undefined || !(error instanceof Error && 'syscall' in error && error.syscall === 'listen')) return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new SnatDoctorError(
    'BAD_ARGUMENT',
    `--port ${port}: the Kubernetes API cannot listen on it (${code === 'EADDRINUSE' ? 'in use' : code}). ` +
      'Give another port, or none for any free one.',
    { cause: error },
  );
}

/** Reads a connection file written by `snat-doctor sandbox`, checking its shape. */
export async function readConnection(path: string): Promise<SandboxConnection> {
  const text = await readInputText(path, '--connect', MAX_CONNECTION_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes the text around the fault, and the file holds the sandbox's token.
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `Cannot read the sandbox connection ${path}: it is not JSON (a connection file is written by snat-doctor sandbox).`,
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
