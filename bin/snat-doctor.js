#!/usr/bin/env node
// Runs the TypeScript sources directly: Node 22.18+ strips types (the project's own Node 22 is a dev dependency).
import { main } from '../lib/cli/main.ts';

main(process.argv).catch((error) => {
  process.stderr.write(
    `snat-doctor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
