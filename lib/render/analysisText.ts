// `snat-doctor analyze` for a terminal: what was read, the sources by connects (the runbook's count), and the ranked
// pods when the evidence named them. Pure: a string out. Every string in the result may come from a file (names,
// commands, lines skipped, notes quoting the probe): each is printed through terminalSafe, so a file cannot move the
// cursor, retitle the window or hide text.
import Table from 'cli-table3';
import type { AnalysisResult } from '../analysis/analyzeEvidence.ts';
import { culpritTable, painter, type TerminalStyle } from './terminal.ts';
import { terminalSafe } from './terminalSafe.ts';

const SOURCES_SHOWN = 15;

export function renderAnalysis(given: AnalysisResult, style: TerminalStyle = { color: false, width: 100 }): string {
  const result = terminalSafeStrings(given);
  const paint = painter(style.color);
  const lines: string[] = [paint.bold('Evidence read')];
  for (const [index, input] of result.inputs.entries()) {
    // A sample is quoted from the line as read (JSON escapes its C0 controls; terminalSafe then DEL and C1).
    const sample = terminalSafe(JSON.stringify(given.inputs[index]?.skippedSamples[0] ?? ''));
    const skipped = input.skipped > 0 ? `, ${input.skipped} skipped (e.g. ${sample})` : '';
    const error = input.error ? ` — ${input.error}` : '';
    lines.push(
      ` ${input.kind.padEnd(16)}${input.pod ? `${input.pod}: ` : ''}${input.file}: ${input.lines} lines${skipped}${error}`,
    );
  }
  if (result.events > 0) {
    const span = result.seconds !== undefined ? ` over ${result.seconds} s` : '';
    lines.push(` ${result.events} ${result.tracer === 'bpftrace' ? 'bpftrace' : 'tcptracer'} events${span}`);
  }
  lines.push('');

  if (result.bySource.length > 0) {
    lines.push(paint.bold('Connections by source (as the runbook counts them: SADDR and NETNS)'));
    // Failed connects have a column only when the tracer saw some (bpftrace does; BCC tcptracer never reports them).
    const failed = result.bySource.some((s) => (s.failed ?? 0) > 0);
    const table = new Table({
      head: [
        'Source address',
        'Network namespace',
        'Pod',
        'Connects',
        ...(failed ? ['Failed'] : []),
        'Accepts',
        'Closes',
      ],
      colAligns: ['left', 'right', 'left', 'right', ...(failed ? (['right'] as const) : []), 'right', 'right'],
      style: { head: style.color ? ['cyan'] : [], border: style.color ? ['grey'] : [] },
    });
    for (const s of result.bySource.slice(0, SOURCES_SHOWN)) {
      const pod = s.pod ?? (s.sandboxId ? `sandbox ${s.sandboxId.slice(0, 13)}` : paint.dim('unknown'));
      table.push([s.saddr, s.netns ?? '', pod, s.connects, ...(failed ? [s.failed ?? 0] : []), s.accepts, s.closes]);
    }
    lines.push(table.toString());
    if (result.bySource.length > SOURCES_SHOWN)
      lines.push(`… and ${result.bySource.length - SOURCES_SHOWN} more sources`);
    lines.push('');
  }

  if (result.culprits.length > 0) {
    lines.push(paint.bold('Pods by SNAT use'));
    lines.push(culpritTable(result.culprits, style));
    lines.push('');
  } else if (result.podsExamined > 0) {
    lines.push(paint.bold('No pod holds connections to public destinations.'), '');
  }
  for (const note of result.notes) lines.push(paint.dim(`Note: ${note}`));
  return lines.join('\n').trimEnd();
}

/** A copy of `value` with every string in it made terminalSafe. */
function terminalSafeStrings<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map(terminalSafeStrings) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, terminalSafeStrings(v)])) as T;
  }
  return value;
}
