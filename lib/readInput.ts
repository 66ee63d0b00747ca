// Reading a file a person named, within a bound: every whole-file read of outside input goes through here (analyze's
// evidence files, config --settings, a sandbox connection or scenario), so an endless or huge source ends with a
// message naming the cap rather than memory running out, and a directory or an unreadable path says what is wrong.
// node:fs's `promises` and callback `stat`, not node:fs/promises: the CLI's bundle reads `promises` only when a
// whole file is read, so that analyze of a capture (streamable, then a synchronous read) never loads it (and the
// readline and stream modules it loads).
import { promises, stat } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { SnatDoctorError } from './errors.ts';

/**
 * A file read whole as UTF-8, never more than `maxBytes` of it: a regular file over the cap is refused before it is
 * read, anything else (a pipe from `<(kubectl exec …)`, a device) is read up to the cap and refused past it, so an
 * endless source ends with a message rather than memory running out. `option` names where the path came from.
 */
export async function readInputText(path: string, option: string, maxBytes: number): Promise<string> {
  let file: FileHandle;
  try {
    file = await promises.open(path, 'r');
  } catch (error) {
    throw cannotRead(path, option, error);
  }
  try {
    const info = await file.stat();
    if (info.isDirectory()) throw isDirectory(path, option);
    if (info.isFile() && info.size > maxBytes) throw tooLarge(path, option, maxBytes, `is ${mebibytes(info.size)}`);
    const chunks: Buffer[] = [];
    let total = 0;
    // One byte past the cap tells a source that is too long from one exactly the cap long.
    while (total <= maxBytes) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return Buffer.concat(chunks, total).toString('utf8');
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    throw tooLarge(
      path,
      option,
      maxBytes,
      info.isFile()
        ? `is larger than ${mebibytes(maxBytes)}` // it grew while read, or a /proc file (which says size 0)
        : `is not a regular file and gave more than ${mebibytes(maxBytes)} without ending (a device?)`,
    );
  } catch (error) {
    throw error instanceof SnatDoctorError ? error : cannotRead(path, option, error);
  } finally {
    await file.close();
  }
}

/**
 * Checks a file can be streamed, for a clear message rather than a stream error: it exists and is not a directory.
 * Only stat: opening a pipe (`<(tcptracer …)`) and closing it again would stop its writer.
 */
export async function streamable(path: string, option: string): Promise<string> {
  let directory: boolean;
  try {
    directory = await new Promise<boolean>((resolve, reject) =>
      stat(path, (error, info) => (error ? reject(error) : resolve(info.isDirectory()))),
    );
  } catch (error) {
    throw cannotRead(path, option, error);
  }
  if (directory) throw isDirectory(path, option);
  return path;
}

export function cannotRead(path: string, option: string, error: unknown): SnatDoctorError {
  return new SnatDoctorError('BAD_ARGUMENT', `Cannot read ${path} (${option}): ${(error as Error).message}`, {
    cause: error,
  });
}

function isDirectory(path: string, option: string): SnatDoctorError {
  return new SnatDoctorError('BAD_ARGUMENT', `${option} ${path} is a directory: give the file itself.`);
}

function tooLarge(path: string, option: string, maxBytes: number, what: string): SnatDoctorError {
  return new SnatDoctorError(
    'BAD_ARGUMENT',
    `${option} ${path} ${what}: snat-doctor reads at most ${mebibytes(maxBytes)} of ` +
      `${option.startsWith('--') ? `a ${option} file` : option}. Give the file ` +
      'the command wrote (the real ones are a few MiB at most).',
  );
}

function mebibytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `${mib >= 10 || Number.isInteger(mib) ? Math.round(mib) : mib.toFixed(1)} MiB`;
}
