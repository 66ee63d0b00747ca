// What every evidence parser reports about its input besides what it found: how many lines it read and how many it
// could not use. A malformed line is counted and skipped, never fatal; a few samples say what they looked like.

export interface LineStats {
  /** Lines read, headers and blank lines included. */
  lines: number;
  /** Lines that were neither data, a header, a banner nor blank: counted, not fatal. */
  skipped: number;
  /** The first few skipped lines (each cut to 200 characters), so a report can show what went wrong. */
  skippedSamples: string[];
}

export const MAX_SKIPPED_SAMPLES = 5;

export function emptyStats(): LineStats {
  return { lines: 0, skipped: 0, skippedSamples: [] };
}

export function skipLine(stats: LineStats, line: string): void {
  stats.skipped++;
  if (stats.skippedSamples.length < MAX_SKIPPED_SAMPLES) stats.skippedSamples.push(line.slice(0, 200));
}

/** The lines of a tool's output: CRLF tolerated, a leading byte-order mark dropped, no phantom line after the last newline. */
export function splitLines(text: string): string[] {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body === '') return [];
  const lines = body.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (body.endsWith('\n')) lines.pop();
  return lines;
}
