#!/usr/bin/env node
// The CLI runs from its bundle (dist/, built by `npm run build`, which npm ci, start, test and bench run first).
// Started by a Node older than the project's (the system's `node`, as `./bin/snat-doctor.js` or an `npm link`ed
// `snat-doctor` finds it), it runs itself again under the Node 22 the project installs (the `node` npm package), so
// the fast ways of starting it need nothing on PATH; `npx snat-doctor` gets that Node from npm, at ~2 s a command.
//
// Node's built-ins are require()d, not imported: an import makes a built-in's ES module facade, which reads every
// export (node:fs's would load the stream modules and fs/promises; the facades of node:fs, node:path and node:url
// together measured ~6 ms here).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { existsSync } = require('node:fs');
const { fileURLToPath } = require('node:url');

const REQUIRED_MAJOR = 22;
const projectNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
if (Number(process.versions.node.split('.')[0]) < REQUIRED_MAJOR && existsSync(projectNode)) {
  // Imported here, not at the top: the usual start (under Node 22) never needs it.
  const { spawn } = await import('node:child_process');
  // The child runs in a session of its own (detached: setsid(2)), and this process passes each stop signal on, once.
  // In this process's group, a terminal's Ctrl-C or hangup and a `kill -- -PGID` reached it twice, from the group
  // and passed on, in either order (seen in CI: a SIGINT taken for a second Ctrl-C left at once, with the probe pod
  // running); a signal sent to this process alone (`kill PID`, a supervisor) must reach it too.
  const child = spawn(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    detached: true,
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve) => {
    child.on('error', (error) => {
      process.stderr.write(`snat-doctor: cannot run the project's Node (${projectNode}): ${error.message}\n`);
      resolve([1, null]);
    });
    child.on('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  process.exit(code ?? 128 + (require('node:os').constants.signals[signal] ?? 0));
}

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
  // Leave now: a sandbox's servers or a half-done investigation would otherwise keep the process alive for good. A
  // probe pod left behind stops at its activeDeadlineSeconds, and the next investigation's sweep deletes it.
  process.exit(1);
});
