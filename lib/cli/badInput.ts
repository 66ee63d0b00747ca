// The CLI's one edge for expected failures: a SnatDoctorError (a bad argument, an unreadable file) is printed as its
// message with exit code 2; anything else is a bug and propagates to the entry's handler.
import { SnatDoctorError } from '../errors.ts';

export function badInputExit(error: unknown, stderr: { write(text: string): unknown } = process.stderr): number {
  if (!(error instanceof SnatDoctorError)) throw error;
  stderr.write(`snat-doctor: ${error.message}\n`);
  return 2;
}
