// `snat-doctor`: the command line. Each command loads only what it needs.
import { Command, InvalidArgumentError, Option } from 'commander';
import { CAPTURE_SECONDS } from '../validation.ts';

export function buildProgram(): Command {
  const program = new Command('snat-doctor')
    .description(
      "Finds the pod exhausting an AKS node's SNAT ports, with evidence, and says how to fix it.\n" +
        'Runs the same Durable workflow as the Azure Functions app, here on your machine.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortOptions: false });

  program
    .command('diagnose')
    .description(
      'Investigate a node: locate it, capture its connections, map them to pods, rank the pods and recommend a fix.\n' +
        'With no cluster arguments it investigates the built-in sandbox scenario (a simulated AKS cluster).',
    )
    .addOption(new Option('--sandbox <file>', 'run on a sandbox scenario file (YAML or JSON; see docs/sandbox.md)'))
    .addOption(new Option('--node <name-or-ip>', 'the node to investigate (default: the most exhausted node)'))
    .addOption(
      new Option(
        '--seconds <n>',
        `how long to capture connections on the node (${CAPTURE_SECONDS.min}-${CAPTURE_SECONDS.max})`,
      )
        .default(CAPTURE_SECONDS.default)
        .argParser(wholeNumber),
    )
    .addOption(new Option('--json', 'print the report as JSON on stdout (progress goes to stderr)'))
    .addOption(new Option('--no-progress', 'do not show step-by-step progress'))
    .action(async (options) => {
      const { diagnose } = await import('./diagnose.ts');
      process.exitCode = await diagnose(options);
    });

  return program;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds, e.g. 30.');
  return Number(value);
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
