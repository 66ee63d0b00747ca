// How the commands that may run probe pods (diagnose, serve) are stopped: Ctrl-C, SIGTERM, or SIGHUP when the terminal
// or SSH session closes. After the first, only a second Ctrl-C may cut the cleanup short: a supervisor may repeat a
// SIGTERM before its SIGKILL. (Under an older Node, bin/snat-doctor.js runs the command in a session of its own and
// passes each signal on once: in the parent's group, a terminal's Ctrl-C reached it twice, in either order, and the
// second copy was taken for a second Ctrl-C.) What is left: Node restores the default action as it tears the process
// down (~50 ms here, seen with strace), so a repeat that arrives only then ends the process by the signal after its
// cleanup: the probe pods are deleted, the exit code is 128 + n.

/** The signals that stop a command cleanly. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const ignore = () => {};

/** Once stopping by a signal: a repeated SIGTERM or SIGHUP is ignored from now on (Node's default would kill). */
export function ignoreRepeatedStops(): void {
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    if (!process.listeners(signal).includes(ignore)) process.on(signal, ignore);
  }
}

/** Says on stderr that a stop began, and what a second Ctrl-C does. */
export function announceStop(signal: NodeJS.Signals): void {
  process.stderr.write(`\n${signal}: stopping; a running probe pod is deleted first (Ctrl-C again to leave now).\n`);
}

/** After a hangup the terminal is gone: a write that fails must not stop the cleanup. */
export function tolerateClosedTerminal(signal: NodeJS.Signals): void {
  if (signal !== 'SIGHUP') return;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', ignore);
}
