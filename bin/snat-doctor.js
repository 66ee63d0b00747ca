#!/usr/bin/env node
// The CLI runs from its bundle (dist/, built by `npm run build`, which npm ci, start, test and bench run first).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write('snat-doctor: the CLI is not built yet: run `npm run build` (npm ci does it too).\n');
  process.exit(1);
}
const { main } = await import(bundle.href);
main(process.argv).catch((error) => {
  process.stderr.write(
    `snat-doctor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
