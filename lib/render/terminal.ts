// The report for a terminal: pure, a string out. (Slack's Block Kit rendering is its sibling.)
import Table from 'cli-table3';
import type { Culprit, DestinationPressure, PortDemand, Report, StepOutcome, WorkloadCulprit } from '../model.ts';
import { formatDestination, hostNote, natBudgetLines } from './endpoint.ts';

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
  if (report.joined) {
    lines.push(
      paint.bold(
        `Joined   ${report.joined.instanceId} (running since ${report.joined.since}): this run did nothing on the node; that investigation's report is the one to read`,
      ),
    );
  }
  for (const [label, b] of [
    ['SNAT    ', budget],
    ['SNAT v6 ', report.ipv6Budget],
  ] as const) {
    if (!b) continue;
    const ratio = b.allocatedPorts > 0 ? b.usedPorts / b.allocatedPorts : 0;
    const bar = usageBar(ratio, 20);
    const used = `${b.usedPorts} / ${b.allocatedPorts} SNAT ports used (${Math.round(ratio * 100)} %)`;
    const failed = `${b.failedConnections} failed connections`;
    const tone = ratio >= 0.9 || b.failedConnections > 0 ? paint.red : ratio >= 0.75 ? paint.yellow : paint.green;
    lines.push(`${label} ${tone(bar)} ${used}, ${failed}`);
    const [hot] = b.byDestination;
    if (hot) {
      lines.push(
        `         busiest destination ${formatDestination(hot)}: ${hot.ports.total} ports needed (${hot.ports.held} held, ${hot.ports.churn} churn, ${hot.ports.failed} failed), ${Math.round(hot.share * 100)} % of the allocation`,
      );
    }
  }
  if (report.natBudget) {
    const { ratio, failing, lines: said } = natBudgetLines(report.natBudget, report.survey);
    const tone = ratio >= 0.9 || failing ? paint.red : ratio >= 0.75 ? paint.yellow : paint.green;
    const [first, ...rest] = said;
    lines.push(`NAT gw   ${tone(usageBar(ratio, 20))} ${first}`);
    for (const line of rest) lines.push(`         ${line}`);
  }
  if (report.privateRanges.length > 0) {
    const ranges = report.privateRanges.map((r) => `${r.cidr} (${r.name ? `${r.source} ${r.name}` : r.source})`);
    lines.push(paint.dim(`Not SNAT'd  RFC 1918 and other private ranges, and ${ranges.join(', ')}`));
  }
  lines.push('');

  if (report.culprits.length === 0) {
    lines.push(paint.bold('No pod uses SNAT ports: no connection to a public destination.'));
  } else {
    lines.push(paint.bold('Workloads by SNAT use'));
    lines.push(workloadTable(report.workloads.slice(0, 10), style));
    if (report.workloads.length > 10) lines.push(`… and ${report.workloads.length - 10} more workloads`);
    lines.push('');
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
    head: [
      '#',
      'Pod',
      'SNAT ports (held/churn/failed)',
      'Share',
      'Public estab.',
      'Connects',
      'TIME_WAIT',
      'Top destinations (ports)',
    ],
    colAligns: ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: { head: style.color ? ['cyan'] : [], border: style.color ? ['grey'] : [] },
    wordWrap: true,
    colWidths: [4, null, null, null, null, null, null, Math.max(24, Math.min(44, style.width - 110))],
  });
  for (const c of culprits) {
    const owner =
      c.workload.kind === 'Pod' || c.workload.kind === 'Node' ? '' : `\n${c.workload.kind} ${c.workload.name}`;
    const shared = c.hostNetworkPods?.length ? `\nshared by ${c.hostNetworkPods.join(', ')}` : '';
    table.push([
      c.rank,
      `${c.namespace ? `${c.namespace}/` : ''}${c.pod}${hostNote(c)}${owner}${shared}`,
      demandCell(c.ports),
      share(c.shareOfUsedPorts),
      c.publicEstablished,
      c.connectsPerSecond > 0 ? `${c.publicConnects} (${c.connectsPerSecond}/s)` : c.publicConnects,
      c.timeWait,
      destinationsCell(c.topDestinations),
    ]);
  }
  return table.toString();
}

function workloadTable(workloads: WorkloadCulprit[], style: TerminalStyle): string {
  const table = new Table({
    head: ['#', 'Workload', 'Pods', 'SNAT ports (held/churn/failed)', 'Share', 'Top destinations (ports)'],
    colAligns: ['right', 'left', 'right', 'right', 'right', 'left'],
    style: { head: style.color ? ['cyan'] : [], border: style.color ? ['grey'] : [] },
    wordWrap: true,
    colWidths: [4, null, null, null, null, Math.max(24, Math.min(44, style.width - 80))],
  });
  for (const w of workloads) {
    table.push([
      w.rank,
      w.kind === 'Node'
        ? `the node's own network (${w.name})`
        : `${w.kind} ${w.namespace ? `${w.namespace}/` : ''}${w.name}`,
      w.kind === 'Node' ? '' : w.pods.length,
      demandCell(w.ports),
      share(w.shareOfUsedPorts),
      destinationsCell(w.topDestinations),
    ]);
  }
  return table.toString();
}

function demandCell(p: PortDemand): string {
  return `${p.total} (${p.held}/${p.churn}/${p.failed})`;
}

function share(value: number | undefined): string {
  return value === undefined ? '' : value < 0.01 ? '<1 %' : `${Math.round(value * 100)} %`;
}

function destinationsCell(destinations: DestinationPressure[]): string {
  return destinations
    .slice(0, 3)
    .map((d) => `${formatDestination(d)}: ${d.ports.total}`)
    .join('\n');
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
