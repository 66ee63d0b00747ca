#!/usr/bin/env node
// Runs the TypeScript sources directly: Node 22.18+ strips types (the project's own Node 22 is a dev dependency).
import { installFunctionsCore } from '../lib/local/installFunctionsCore.ts';

// Before anything loads @azure/functions: its registrations must reach the local runtime, as in the worker.
installFunctionsCore();
const { main } = await import('../lib/cli/main.ts');

main(process.argv).catch((error) => {
  process.stderr.write(
    `snat-doctor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
