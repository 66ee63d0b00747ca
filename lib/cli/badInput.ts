// The CLI's one edge for expected failures: a SnatDoctorError (a bad argument, an unreadable file) is printed as its
// message with exit code 2; anything else is a bug and propagates to the entry's handler. Messages quote what they
// were given, files' text included, so what reaches the terminal goes through `terminalSafe` first.
import { SnatDoctorError } from '../errors.ts';
import { terminalSafe } from '../render/terminalSafe.ts';

export { jsonTerminalSafe, terminalSafe } from '../render/terminalSafe.ts';

/** The exit code of every usage error and bad input (README, "Exit codes"). */
export const BAD_INPUT_EXIT = 2;

export function badInputExit(error: unknown, stderr: { write(text: string): unknown } = process.stderr): number {
  if (!(error instanceof SnatDoctorError)) throw error;
  stderr.write(`snat-doctor: ${terminalSafe(error.message)}\n`);
  return BAD_INPUT_EXIT;
}
