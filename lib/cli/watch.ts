// `snat-doctor watch --once`: one tick of the snatWatch timer on the sandbox — every node's SNAT standing and the
// investigations it starts — served on 127.0.0.1 and reached through the real SDK clients, like `diagnose`. The
// investigations run in this process's Durable host, so the command waits for them (they would die with it) and
// says how each ended.
import Table from 'cli-table3';
import type { InMemoryDurableHost } from '../local/durableHost.ts';
import type { ClusterRef, Report } from '../model.ts';
import { painter, type TerminalStyle } from '../render/terminal.ts';
import type { RunningSandbox } from '../sandbox/sandbox.ts';
import { DEFAULT_THRESHOLDS, usedRatio } from '../watch/policy.ts';
import { clusterName } from '../watch/summary.ts';
import { type WatchedNode, type WatchTickResult, watchTick } from '../watch/tick.ts';
import { badInputExit } from './badInput.ts';
import { defaultStatePath, fileWatchMemory } from './watchState.ts';

export interface WatchCommandOptions {
  once?: boolean;
  sandbox?: string;
  json?: boolean;
  /** `--no-start` makes it false: report only. */
  start: boolean;
  /**
   * Where the watch remembers what it saw between runs (allocations, recent standings, what it investigated): a JSON
   * file; `none` remembers nothing. Default: the user's state directory (defaultStatePath).
   */
  state?: string;
}

export interface WatchIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  /** Apply the scenario's latencies, as a real tick would feel (tests turn them off). */
  latency: boolean;
}

/** How a started investigation ended, with its culprit when it found one. */
export interface InvestigationOutcome {
  instanceId: string;
  runtimeStatus: string;
  culprit: { namespace: string; pod: string; publicEstablished: number } | null;
  /** Why the orchestration failed, when it did. */
  failure?: string;
}

export async function watch(
  options: WatchCommandOptions,
  io: WatchIo = { stdout: process.stdout, stderr: process.stderr, latency: true },
): Promise<number> {
  if (!options.once) {
    io.stderr.write(
      'snat-doctor: watch needs --once for now: it runs one tick and exits. (Continuous watching is the snatWatch ' +
        'timer of the Functions app, on the schedule in SNAT_DOCTOR_WATCH_SCHEDULE.)\n',
    );
    return 2;
  }
  try {
    const { DEFAULT_SCENARIO_PATH, loadScenario } = await import('../sandbox/scenario.ts');
    const { startSandbox } = await import('../sandbox/sandbox.ts');
    const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
    const sandbox = await startSandbox(scenario, { latency: io.latency });
    try {
      return await tickOn(sandbox, options, io);
    } finally {
      await sandbox.close();
    }
  } catch (error) {
    return badInputExit(error, io.stderr);
  }
}

async function tickOn(sandbox: RunningSandbox, options: WatchCommandOptions, io: WatchIo): Promise<number> {
  const ports = sandbox.ports();
  const { subscriptionId, resourceGroup, name } = sandbox.scenario.cluster;
  const cluster: ClusterRef = { subscriptionId, resourceGroup, name };
  let host: InMemoryDurableHost | undefined;
  if (options.start) {
    const [{ startLocalRuntime }, { RealClock }] = await Promise.all([
      import('../local/runtime.ts'),
      import('../local/durableHost.ts'),
    ]);
    ({ host } = await startLocalRuntime({ ports, clock: new RealClock() }));
  }

  const memory = options.state === 'none' ? undefined : fileWatchMemory(options.state ?? defaultStatePath());
  const result = await watchTick({ clusters: [cluster], ports, client: host, ...(memory ? { memory } : {}) });

  const outcomes: InvestigationOutcome[] = [];
  if (host && result.started.length > 0) {
    io.stderr.write(`Waiting for ${result.started.length} investigation(s) to finish…\n`);
    for (const status of await Promise.all(result.started.map((s) => host.waitForCompletion(s.instanceId)))) {
      outcomes.push(outcomeOf(status.instanceId, status.runtimeStatus, status.output));
    }
  }

  if (options.json) io.stdout.write(`${JSON.stringify(watchJson(result, outcomes), null, 2)}\n`);
  else {
    const color = io.stdout.isTTY === true && !process.env.NO_COLOR;
    const header = `Watch tick on sandbox "${sandbox.scenario.name}" (investigate at ${percent(DEFAULT_THRESHOLDS.investigate)} or any failed connection, warn at ${percent(DEFAULT_THRESHOLDS.warn)})`;
    io.stdout.write(`${header}\n${renderWatch(result, outcomes, { color, width: io.stdout.columns ?? 100 })}\n`);
  }
  return outcomes.every((o) => o.runtimeStatus === 'Completed') ? 0 : 1;
}

function outcomeOf(instanceId: string, runtimeStatus: string, output: unknown): InvestigationOutcome {
  if (runtimeStatus !== 'Completed') return { instanceId, runtimeStatus, culprit: null, failure: String(output) };
  const top = (output as Report).culprits[0];
  return {
    instanceId,
    runtimeStatus,
    culprit: top ? { namespace: top.namespace, pod: top.pod, publicEstablished: top.publicEstablished } : null,
  };
}

/** The tick as JSON: every node with its standing (null where the metric is unknown) and what was started. */
export function watchJson(result: WatchTickResult, outcomes: InvestigationOutcome[] = []) {
  const outcome = new Map(outcomes.map((o) => [o.instanceId, o]));
  return {
    at: result.at,
    nodes: result.nodes.map((node) => ({
      cluster: node.cluster,
      name: node.name,
      ip: node.ip,
      usedPorts: node.usedPorts ?? null,
      allocatedPorts: node.allocatedPorts ?? null,
      failedConnections: node.failedConnections ?? null,
      decision: node.decision,
      action: node.action,
      ...(node.trend ? { trend: node.trend } : {}),
      ...(node.rising ? { rising: true } : {}),
      ...(node.instanceId ? { instanceId: node.instanceId } : {}),
      ...(node.cooldownUntil ? { cooldownUntil: node.cooldownUntil } : {}),
    })),
    findings: result.findings,
    gateways: result.gateways.map((gateway) => ({
      ...gateway,
      failedConnections: gateway.failedConnections ?? null,
      totalConnections: gateway.totalConnections ?? null,
      droppedPackets: gateway.droppedPackets ?? null,
    })),
    started: result.started.map((s) => ({ ...s, ...omitId(outcome.get(s.instanceId)) })),
    unsupported: result.unsupported,
    errors: result.errors,
  };
}

function omitId(outcome: InvestigationOutcome | undefined) {
  if (!outcome) return {};
  const { instanceId: _, ...rest } = outcome;
  return rest;
}

/**
 * The tick for a terminal: a table of every node, the NAT gateways, then what was started, what cannot be watched, what
 * failed.
 */
export function renderWatch(
  result: WatchTickResult,
  outcomes: InvestigationOutcome[] = [],
  style: TerminalStyle = { color: false, width: 100 },
): string {
  const paint = painter(style.color);
  const lines: string[] = [];
  if (result.nodes.length > 0) {
    const table = new Table({
      head: ['Cluster', 'Node', 'Used / allocated', '%', 'Failed', 'Action'],
      colAligns: ['left', 'left', 'right', 'right', 'right', 'left'],
      // Compact (no rule between rows): a fleet has hundreds of nodes.
      style: { head: style.color ? ['cyan'] : [], border: style.color ? ['grey'] : [], compact: true },
    });
    for (const node of result.nodes) {
      const ratio = usedRatio(node);
      table.push([
        clusterName(node.cluster),
        node.name,
        node.usedPorts === undefined ? '–' : `${node.usedPorts} / ${node.allocatedPorts ?? '?'}`,
        ratio === undefined ? '–' : percent(ratio),
        node.failedConnections ?? '–',
        tone(node, paint)(actionText(node) + trendText(node)),
      ]);
    }
    lines.push(table.toString());
  } else if (result.gateways.length > 0) {
    lines.push('No node was watched: behind a NAT gateway the watch reads the gateway (below), which names no node.');
  } else {
    lines.push('No node was watched.');
  }

  const fresh = result.findings.filter((f) => f.new);
  const still = result.findings.filter((f) => !f.new);
  if (fresh.length > 0) {
    lines.push('', paint.bold('SNAT allocation changed'));
    for (const f of fresh) {
      lines.push(`  ${clusterName(f.cluster)} ${paint.red(f.message)}`);
      for (const command of f.commands) lines.push(`    ${command}`);
    }
  }
  if (still.length > 0) {
    lines.push(
      '',
      paint.dim(
        `Allocation still not as configured (told before): ${still.map((f) => `${f.node} ${f.allocatedPorts}/${f.expectedPorts}`).join(', ')}`,
      ),
    );
  }

  if (result.gateways.length > 0) {
    lines.push('', paint.bold('NAT gateways'));
    for (const gateway of result.gateways) {
      const say = gateway.decision === 'finding' ? paint.red : gateway.decision === 'ok' ? paint.green : paint.dim;
      lines.push(`  ${say(gateway.message)}`);
      for (const advice of gateway.advice) lines.push(`    ${advice}`);
      for (const command of gateway.commands) lines.push(`    ${command}`);
    }
  }

  const outcome = new Map(outcomes.map((o) => [o.instanceId, o]));
  if (result.started.length > 0) {
    lines.push('', paint.bold('Investigations started'));
    for (const started of result.started) {
      lines.push(`  ${started.instanceId}`);
      const o = outcome.get(started.instanceId);
      if (!o) continue;
      if (o.runtimeStatus !== 'Completed') lines.push(`    ${paint.red(`failed: ${o.failure ?? o.runtimeStatus}`)}`);
      else if (o.culprit) {
        lines.push(
          `    culprit ${o.culprit.namespace}/${o.culprit.pod} (${o.culprit.publicEstablished} connections to public destinations)`,
        );
      } else lines.push('    no pod holds connections to public destinations');
    }
    lines.push(paint.dim('  The full report of a node: snat-doctor diagnose [--sandbox FILE] --node NODE'));
  }
  if (result.unsupported.length > 0) {
    lines.push('', paint.bold('Clusters without a per-node SNAT metric'));
    for (const u of result.unsupported) lines.push(`  ${clusterName(u.cluster)} (${u.outboundType}): ${u.note}`);
  }
  if (result.errors.length > 0) {
    lines.push('', paint.bold('Errors'));
    for (const e of result.errors) {
      lines.push(`  ${clusterName(e.cluster)}${e.node ? ` ${e.node}` : ''}: ${paint.red(e.message)}`);
    }
  }
  return lines.join('\n');
}

function actionText(node: WatchedNode): string {
  switch (node.action) {
    case 'cooldown':
      return `cooldown until ${node.cooldownUntil ?? '?'}`;
    case 'investigate':
      return 'investigate (not started)';
    case 'flat':
      return 'high but flat since its last investigation';
    case 'no-metric':
      return 'no metric';
    default:
      return node.action;
  }
}

/** ` (rising: exhausted in ~N min)` when the trend says so. */
function trendText(node: WatchedNode): string {
  const minutes = node.trend?.exhaustsInMinutes;
  if (minutes === undefined) return '';
  return `${node.rising ? ' (rising:' : ' ('} exhausted in ~${Math.round(minutes)} min)`;
}

function tone(node: WatchedNode, paint: ReturnType<typeof painter>): (s: string) => string {
  if (node.decision === 'investigate') return paint.red;
  if (node.decision === 'warn') return paint.yellow;
  if (node.decision === 'ok') return paint.green;
  return paint.dim;
}

/** Rounded down, so a node just under a threshold never reads as on it. */
function percent(ratio: number): string {
  return `${Math.floor(ratio * 1000) / 10} %`;
}
