// `snat-doctor`: the command line. Each command loads only what it needs. Every usage error (an unknown command or
// option, a missing or malformed value) is answered as bad input is: a message on stderr and exit 2.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_PROBE_IMAGE, validateProbeImage } from '../probe/probePod.ts';
import { CAPTURE_SECONDS } from '../validation.ts';
import { BAD_INPUT_EXIT, terminalSafe } from './badInput.ts';

export function buildProgram(): Command {
  const program = new Command('snat-doctor')
    .description(
      "Finds the pod exhausting an AKS node's SNAT ports, with evidence, and says how to fix it.\n" +
        'Runs the same Durable workflow as the Azure Functions app, here on your machine.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortOptions: false })
    // Set before the commands are added, which copy both. Commander throws instead of exiting; main() maps it to 2.
    .exitOverride()
    .configureOutput({
      outputError: (text, write) =>
        write(`snat-doctor: ${terminalSafe(text.replace(/^error: /, '').replace(/ is invalid\. /, ' is invalid: '))}`),
    });

  program
    .command('diagnose')
    .description(
      'Investigate a node: locate it, capture its connections, map them to pods, rank the pods and recommend a fix.\n' +
        'With no cluster arguments it investigates the built-in sandbox scenario (a simulated AKS cluster).',
    )
    .addOption(new Option('--sandbox <file>', 'run on a sandbox scenario file (YAML or JSON; see docs/sandbox.md)'))
    .addOption(new Option('--connect <file>', 'run on a sandbox served by `snat-doctor sandbox` (its connection file)'))
    .addOption(
      new Option('--subscription <id>', 'a real cluster: its subscription id (with --resource-group, --cluster)'),
    )
    .addOption(new Option('-g, --resource-group <name>', 'a real cluster: its resource group'))
    .addOption(new Option('--cluster <name>', 'a real cluster: its AKS name (signs in with DefaultAzureCredential)'))
    .addOption(
      new Option('--probe-image <image>', `image of the node probe pod (default ${DEFAULT_PROBE_IMAGE})`).argParser(
        probeImage,
      ),
    )
    .addOption(new Option('--node <name-or-ip>', 'the node to investigate (default: the most exhausted node)'))
    .addOption(
      new Option(
        '--private-range <cidr>',
        'a range reached without SNAT that the cluster does not tell (on-premises, a VNet snat-doctor may not read), ' +
          'e.g. 30.10.0.0/16: its traffic is not counted as SNAT; repeatable',
      ).argParser(collect),
    )
    .addOption(
      new Option(
        '--seconds <n>',
        `how long to capture connections on the node (${CAPTURE_SECONDS.min}-${CAPTURE_SECONDS.max})`,
      )
        .default(CAPTURE_SECONDS.default)
        .argParser(captureSeconds),
    )
    .addOption(new Option('--json', 'print the report as JSON on stdout (progress goes to stderr)'))
    .addOption(new Option('--no-progress', 'do not show step-by-step progress'))
    .action(async (options) => {
      // Before anything loads @azure/functions: its registrations must reach the local runtime, as in the worker.
      const { installFunctionsCore } = await import('../local/installFunctionsCore.ts');
      installFunctionsCore();
      const { diagnose } = await import('./diagnose.ts');
      process.exitCode = await diagnose(options);
    });

  program
    .command('watch')
    .description(
      "One tick of the snatWatch timer on a sandbox: every node's SNAT standing, and an investigation started for each\n" +
        'node at the investigate threshold (90 % of its SNAT ports, or any failed connection), run to completion here.',
    )
    .addOption(new Option('--once', 'run one tick and exit (required for now; in Azure the snatWatch timer ticks)'))
    .addOption(new Option('--sandbox <file>', 'the scenario to watch (default: the built-in one)'))
    .addOption(
      new Option(
        '--json',
        'print the tick as JSON: nodes[], findings[], gateways[], started[], unsupported[], errors[]',
      ),
    )
    .addOption(new Option('--no-start', 'report only: start no investigation'))
    .addOption(
      new Option(
        '--state <file>',
        'where the watch remembers allocations and standings between runs (default ~/.local/state/snat-doctor/watch.json; none: nothing)',
      ),
    )
    .action(async (options) => {
      // As for diagnose: the app's registrations must reach the local runtime that runs the investigations.
      const { installFunctionsCore } = await import('../local/installFunctionsCore.ts');
      installFunctionsCore();
      const { watch } = await import('./watch.ts');
      process.exitCode = await watch(options);
    });

  program
    .command('serve')
    .description(
      "Serve the app's HTTP functions on 127.0.0.1 (Slack's /api/slack/events, /api/investigations, status) with the\n" +
        'in-memory Durable host and the sandbox (or a real cluster), so a Slack app can drive investigations on this\n' +
        "machine. Without SLACK_BOT_TOKEN, posts go to the sandbox's Slack Web API, which records them.",
    )
    .addOption(new Option('--port <n>', 'the port').default(7071).argParser(port))
    .addOption(new Option('--sandbox <file>', 'the scenario to serve (default: the built-in one)'))
    .addOption(
      new Option('--connect <file>', 'a sandbox served by `snat-doctor sandbox` instead (its connection file)'),
    )
    .addOption(new Option('--subscription <id>', 'a real cluster instead: its subscription id'))
    .addOption(new Option('-g, --resource-group <name>', 'a real cluster: its resource group'))
    .addOption(new Option('--cluster <name>', 'a real cluster: its AKS name'))
    .action(async (options) => {
      const { installFunctionsCore } = await import('../local/installFunctionsCore.ts');
      installFunctionsCore();
      const { serve } = await import('./serve.ts');
      process.exitCode = await serve(options);
    });

  program
    .command('config')
    .description(
      'Check the app settings as the Functions app does when it starts: every problem, by name, for each area\n' +
        '(Slack, watch, alerts, evidence, the Functions host). Exit 0 when complete, 1 when not. Secrets are never shown.',
    )
    .addOption(new Option('--settings <file>', 'a local.settings.json (its "Values"); default: this environment'))
    .addOption(new Option('--json', 'print {complete, problems[], areas} as JSON'))
    .action(async (options) => {
      const { configCommand } = await import('./configCommand.ts');
      process.exitCode = await configCommand(options);
    });

  program
    .command('sandbox')
    .description(
      'Serve a sandbox cluster on 127.0.0.1 until interrupted: ARM and metrics over HTTPS, and a Kubernetes API you\n' +
        'can explore with kubectl (the kubeconfig is written to --kubeconfig).',
    )
    .addOption(new Option('--scenario <file>', 'the scenario (default: the built-in one; see docs/sandbox.md)'))
    .addOption(new Option('--kubeconfig <path>', 'where to write the kubeconfig').makeOptionMandatory())
    .addOption(
      new Option('--connection <path>', 'where to write what diagnose --connect needs').default(
        'snat-doctor-sandbox.json',
      ),
    )
    .addOption(new Option('--port <n>', 'the Kubernetes API port (default: any free one)').argParser(port))
    .action(async (options) => {
      const { serveSandbox } = await import('./sandboxCommand.ts');
      process.exitCode = await serveSandbox(options);
    });

  program
    .command('analyze')
    .description(
      'Rank pods from evidence captured by hand, as the runbook has you capture it (any subset of the files):\n' +
        '  python3 tcptracer -t -v > trace.txt; lsns -t net --list -J > lsns.json; pstree -apsl PID > pstree.txt\n' +
        '  crictl pods -o json > pods.json; crictl inspectp $(crictl pods -q) > inspectp.json\n' +
        '  kubectl exec POD -- cat /proc/net/tcp /proc/net/tcp6 > pod.tcp; kubectl exec POD -- netstat -ptnW > pod.netstat',
    )
    .addOption(new Option('--tcptracer <file>', 'BCC tcptracer output, any mode (-t, -v, -4/-6, -N)'))
    .addOption(new Option('--lsns <file>', 'lsns -t net output (JSON with -J, or the table)'))
    .addOption(new Option('--pstree <file>', 'pstree -apsl output of namespace PIDs (finds the containerd shim -id)'))
    .addOption(
      new Option('--crictl <file>', 'crictl pods (-o json or table) or crictl inspectp output; repeatable').argParser(
        collect,
      ),
    )
    .addOption(new Option('--netstat <pod=file>', "a pod's netstat -ptn(W) output; repeatable").argParser(collect))
    .addOption(new Option('--ss <pod=file>', "a pod's ss -tnp output; repeatable").argParser(collect))
    .addOption(
      new Option('--proc-net-tcp <pod=file>', "a pod's cat /proc/net/tcp /proc/net/tcp6; repeatable").argParser(
        collect,
      ),
    )
    .addOption(
      new Option('--windows-netstat <pod=file>', "a Windows pod's netstat -aon output; repeatable").argParser(collect),
    )
    .addOption(new Option('--probe-report <file>', "the node probe's report (lib/probe/node-probe.sh run on a node)"))
    .addOption(
      new Option('--cluster-cidr <cidr>', "a pod, service or VNet range (not SNAT'd); repeatable").argParser(collect),
    )
    .addOption(
      new Option(
        '--seconds <n>',
        'how long the capture ran, for connects per second (default: from -t timestamps)',
      ).argParser(positiveNumber),
    )
    .addOption(new Option('--top <n>', 'how many pods to show').default(15).argParser(count))
    .addOption(new Option('--json', 'print the result as JSON'))
    .action(async (options) => {
      const { analyze } = await import('./analyze.ts');
      process.exitCode = await analyze(options);
    });

  return program;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveNumber(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || !(Number(value) > 0) || !Number.isFinite(Number(value))) {
    throw new InvalidArgumentError('expected a positive number, e.g. 30.');
  }
  return Number(value);
}

function count(value: string): number {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1, e.g. 15.');
  return Number(value);
}

function captureSeconds(value: string): number {
  const { min, max } = CAPTURE_SECONDS;
  if (!/^\d{1,4}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new InvalidArgumentError(`expected a whole number of capture seconds from ${min} to ${max}, e.g. 30.`);
  }
  return Number(value);
}

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError('expected a TCP port, a whole number from 1 to 65535, e.g. 7071.');
  }
  return Number(value);
}

/** Checked whatever the target (the sandbox does not use it): the probe pod's own check, so there is one rule. */
function probeImage(value: string): string {
  try {
    validateProbeImage(value);
  } catch {
    throw new InvalidArgumentError(
      `expected a full image reference, like ${DEFAULT_PROBE_IMAGE} (registry or namespace, repository, tag or digest).`,
    );
  }
  return value;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // Commander has printed the message (or the help, asked for or not): help asked for is a success.
    process.exitCode = error.exitCode === 0 ? 0 : BAD_INPUT_EXIT;
  }
}
