// The report for a terminal: pure, a string out. (Slack's Block Kit rendering is its sibling.)
import Table from 'cli-table3';
import type { Culprit, Report, StepOutcome } from '../model.ts';
import { formatEndpoint } from './endpoint.ts';

export interface TerminalStyle {
  color: boolean;
  width: number;
}

const STEP_MARK: Record<StepOutcome['status'], string> = { succeeded: '✔', failed: '✖', skipped: '–' };

export function renderReport(report: Report, style: TerminalStyle = { color: false, width: 100 }): string {
  const paint = painter(style.color);
  const lines: string[] = [];
  const { cluster, node, budget } = report;
  lines.push(paint.bold(`SNAT investigation ${report.instanceId}`));
  lines.push(`Cluster  ${cluster.name} (resource group ${cluster.resourceGroup})`);
  lines.push(`Node     ${node ? `${node.name} (${node.ip}, ${node.os})` : 'not located'}`);
  if (budget) {
    const ratio = budget.allocatedPorts > 0 ? budget.usedPorts / budget.allocatedPorts : 0;
    const bar = usageBar(ratio, 20);
    const used = `${budget.usedPorts} / ${budget.allocatedPorts} SNAT ports used (${Math.round(ratio * 100)} %)`;
    const failed = `${budget.failedConnections} failed connections`;
    const tone = ratio >= 0.9 || budget.failedConnections > 0 ? paint.red : ratio >= 0.75 ? paint.yellow : paint.green;
    lines.push(`SNAT     ${tone(bar)} ${used}, ${failed}`);
  }
  lines.push('');

  if (report.culprits.length === 0) {
    lines.push(paint.bold('No pod holds connections to public destinations.'));
  } else {
    lines.push(paint.bold('Pods by SNAT use'));
    lines.push(culpritTable(report.culprits.slice(0, 15), style));
    if (report.culprits.length > 15) lines.push(`… and ${report.culprits.length - 15} more pods`);
  }
  lines.push('');

  if (report.recommendations.length > 0) {
    lines.push(paint.bold('What to do'));
    report.recommendations.forEach((r, i) => {
      lines.push(`${i + 1}. ${paint.bold(r.title)}`);
      lines.push(indent(r.detail, '   '));
      for (const command of r.commands ?? []) lines.push(`   ${paint.dim('$')} ${command}`);
    });
    lines.push('');
  }

  lines.push(paint.bold('Steps'));
  for (const step of report.steps) {
    const mark =
      step.status === 'succeeded'
        ? paint.green(STEP_MARK.succeeded)
        : step.status === 'failed'
          ? paint.red(STEP_MARK.failed)
          : paint.dim(STEP_MARK.skipped);
    lines.push(` ${mark} ${step.name.padEnd(15)}${step.detail ? ` ${step.detail}` : ''}`);
  }
  for (const u of report.unavailable) lines.push(paint.dim(`   (on the node: ${u.what} unavailable — ${u.reason})`));
  return lines.join('\n');
}

/** The ranked pods as a table: the report's and `analyze`'s. */
export function culpritTable(culprits: Culprit[], style: TerminalStyle): string {
  const table = new Table({
    head: ['#', 'Pod', 'Public estab.', 'Public connects', 'TIME_WAIT', 'Top destinations'],
    colAligns: ['right', 'left', 'right', 'right', 'right', 'left'],
    style: { head: style.color ? ['cyan'] : [], border: style.color ? ['grey'] : [] },
    wordWrap: true,
    colWidths: [4, null, null, null, null, Math.max(24, Math.min(44, style.width - 80))],
  });
  for (const c of culprits) {
    table.push([
      c.rank,
      `${c.namespace ? `${c.namespace}/` : ''}${c.pod}${c.hostNetwork ? ' (hostNetwork)' : ''}`,
      c.publicEstablished,
      c.connectsPerSecond > 0 ? `${c.publicConnects} (${c.connectsPerSecond}/s)` : c.publicConnects,
      c.timeWait,
      c.topDestinations
        .slice(0, 3)
        .map((d) => `${formatEndpoint(d.ip, d.port)} ×${d.connections}`)
        .join('\n'),
    ]);
  }
  return table.toString();
}

function usageBar(ratio: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(ratio * width)));
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

export function painter(color: boolean) {
  const wrap = (open: number, close: number) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
  };
}
