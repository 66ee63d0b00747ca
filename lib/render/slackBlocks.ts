// The report, its progress, help and errors as Slack Block Kit. Pure: plain JSON out, deterministic, and within
// Slack's limits by construction (`checkSlackLimits` proves it in the tests). Its sibling for terminals is terminal.ts.
import type { types } from '@slack/bolt';
import { connectsTraced } from '../analysis/connectsTraced.ts';
import type {
  ClusterRef,
  Culprit,
  InvestigationRequest,
  NatBudget,
  NatSurvey,
  PortDemand,
  Recommendation,
  Report,
  SnatBudget,
  WorkloadCulprit,
} from '../model.ts';
import { CAPTURE_SECONDS } from '../validation.ts';
import type { InvestigationStatus } from '../workflow/investigate.ts';
import { formatDestination, hostNote, natBudgetLines } from './endpoint.ts';

export type Block = types.KnownBlock;

export interface SlackMessage {
  /** The notification fallback. */
  text: string;
  blocks: Block[];
}

/** Block Kit limits (UTF-16 code units, which is never fewer than Slack's characters). */
export const SLACK_LIMITS = {
  blocks: 50,
  text: 3000,
  fields: 10,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  fieldText: 2000,
  contextElements: 10,
  actionsElements: 25,
  blockId: 255,
  url: 3000,
} as const;

/**
 * The report's buttons. On a NAT gateway cluster the survey's next nodes holding the hot endpoint get one each (at
 * most NEXT_NODE_ACTIONS.length; action ids are unique within a block): a button is a `/snat diagnose` of that node.
 */
export const SLACK_ACTIONS = {
  rerun: 'snat_rerun',
  captureLonger: 'snat_capture_longer',
  investigateNode1: 'snat_investigate_node_1',
  investigateNode2: 'snat_investigate_node_2',
} as const;
const NEXT_NODE_ACTIONS = [SLACK_ACTIONS.investigateNode1, SLACK_ACTIONS.investigateNode2];

/** What a button sends back. Data only: the receiver validates it as it would a slash command. */
export interface SlackActionValue {
  cluster: ClusterRef;
  /** Absent: the most exhausted node. */
  node?: string;
  seconds: number;
}

export interface SlackReportOptions {
  /** Where the investigation's history can be seen (the Durable dashboard, the status endpoint). */
  historyUrl?: string;
  /** Ranked pods shown (1–25, default 10); the rest are counted. */
  maxPods?: number;
  /** The request behind the report, for the buttons: the report does not carry the capture's length. */
  request?: Pick<InvestigationRequest, 'node' | 'captureSeconds'>;
}

const PODS_SHOWN = 10;
const WORKLOADS_SHOWN = 5;
const PODS_MAX = 25;
const RECOMMENDATIONS_MAX = 10;
const PROBLEMS_MAX = 10;
// Per-piece lengths, so that every composed text stays under the limit without cutting it mid-sentence.
const NAME_MAX = 200;
const POD_ENTRY_MAX = 900;
const DETAIL_MAX = 1200;
const COMMAND_MAX = 1000;
const NOTE_MAX = 600;
/** Room kept in each text for a closing "… and N more" line. */
const ROOM = 100;

const MARK = { succeeded: '✔', failed: '✖', skipped: '–' } as const;

export function renderSlackReport(report: Report, options: SlackReportOptions = {}): SlackMessage {
  const { cluster, node, budget } = report;
  const top: Block[] = [
    header(`${tone(budget, report.natBudget)} SNAT ports: ${node ? node.name : `${cluster.name}, node not located`}`),
    headline(report),
  ];
  if (budget) top.push(section(budgetText(budget)));
  if (report.ipv6Budget) top.push(section(budgetText(report.ipv6Budget, 'IPv6 ')));
  if (report.natBudget) top.push(section(natBudgetText(report.natBudget, report.survey)));
  if (report.privateRanges.length > 0) top.push(context(privateRangesText(report)));
  top.push(divider());
  top.push(...workloadSection(report));
  top.push(...podSections(report, options.maxPods));
  const problems = problemSections(report);
  if (problems.length > 0) top.push(divider(), ...problems);
  const bottom: Block[] = [divider(), context(footerText(report, options.historyUrl)), ...actions(report, options)];
  const room = SLACK_LIMITS.blocks - top.length - bottom.length - 1;
  const advice = report.recommendations.length > 0 ? [divider(), ...recommendationSections(report, room)] : [];
  return { text: fallbackText(report), blocks: [...top, ...advice, ...bottom] };
}

/** One thread update while the investigation runs: the step, the capture countdown, pods done, steps finished. */
export function renderSlackProgress(status: InvestigationStatus, now: Date): SlackMessage {
  const step = `[${status.index}/${status.of}] ${oneLine(status.message)}`;
  const lines = [`*[${status.index}/${status.of}]* ${mrkdwn(oneLine(status.message), NOTE_MAX)}`];
  const left = secondsUntil(status.captureEndsAt, now);
  const countdown =
    left === undefined ? undefined : left > 0 ? `capture ends in ${left} s` : 'capture over, reading its results';
  if (countdown) lines.push(`⏱ ${countdown}`);
  if (status.pods) {
    const { done, total } = status.pods;
    lines.push(`\`${usageBar(total > 0 ? done / total : 0, 10)}\` ${done}/${total} pods done`);
  }
  const blocks: Block[] = [section(lines.join('\n'))];
  const finished = status.steps.slice(0, PROBLEMS_MAX).map((s) => {
    const detail = s.detail ? ` ${mrkdwn(oneLine(s.detail), 250)}` : '';
    return `${MARK[s.status]} *${s.name}*${detail}`;
  });
  if (finished.length > 0) blocks.push(context(finished.join('\n')));
  return { text: mrkdwn(countdown ? `${step} (${countdown})` : step, SLACK_LIMITS.text), blocks };
}

export function renderSlackHelp(): SlackMessage {
  const usage = [
    '`/snat diagnose [cluster] [node-name|node-ip] [--seconds N]`',
    `Finds the pod exhausting a node's SNAT ports. Default node: the one using the largest share of its ports; capture ${CAPTURE_SECONDS.min}–${CAPTURE_SECONDS.max} s (default ${CAPTURE_SECONDS.default}). The cluster may be left out where a channel diagnoses only one. The report is posted here, its progress in a thread.`,
    '`/snat status [id]`',
    "An investigation's progress or report (default: the latest started from this channel).",
    '`/snat help`',
    'This help.',
  ];
  const examples = [
    '/snat diagnose aks-prod',
    '/snat diagnose aks-prod aks-nodepool1-31415926-vmss000001',
    '/snat diagnose aks-prod 10.224.0.5 --seconds 120',
    '/snat status snat:rg-payments-prod:aks-prod:most-exhausted',
  ];
  return {
    text: 'snat-doctor: /snat diagnose, /snat status, /snat help',
    blocks: [
      header('snat-doctor'),
      section(usage.join('\n')),
      section(`*Examples*\n\`\`\`${examples.join('\n')}\`\`\``),
    ],
  };
}

/** An ephemeral reply: what is wrong and what is accepted (the message says both). */
export function renderSlackError(message: string): SlackMessage {
  const text = mrkdwn(oneLine(message), SLACK_LIMITS.text - ROOM);
  return {
    text: mrkdwn(`snat-doctor: ${oneLine(message)}`, SLACK_LIMITS.text),
    blocks: [section(`⚠️ ${text}`), context('`/snat help` shows the commands and what they accept.')],
  };
}

// --- The report's parts ---

function headline(report: Report): Block {
  const { cluster, node, budget, workloads } = report;
  const [first] = workloads;
  let verdict: string;
  if (report.joined) {
    verdict = `Already under investigation by ${code(report.joined.instanceId, 300)} (since ${mrkdwn(report.joined.since, 40)}): this request ran nothing on the node and joined it. Its report is posted in this channel when it finishes.`;
  } else if (first) {
    const share =
      first.shareOfUsedPorts !== undefined ? `, ${percent(first.shareOfUsedPorts)} % of the node's SNAT pressure` : '';
    const [to] = first.topDestinations;
    const busiest = to
      ? `; the busiest destination, ${code(formatDestination(to), 80)}, needs ${plural(to.ports.total, 'port')}`
      : '';
    verdict = `${workloadName(first)} needs *${first.ports.total}* SNAT ports (${demandParts(first.ports)})${share}${busiest}.`;
  } else if (podsExamined(report)) {
    verdict = 'No pod uses SNAT ports: no connection to a public destination.';
  } else {
    verdict = 'No pods ranked: the investigation did not get that far (below).';
  }
  const fields = [
    `*Cluster*\n${code(cluster.name, NAME_MAX)} (${mrkdwn(cluster.resourceGroup, NAME_MAX)})`,
    `*Node*\n${node ? `${code(node.name, NAME_MAX)} (${mrkdwn(`${node.ip}, ${node.os}`, NAME_MAX)})` : 'not located'}`,
  ];
  if (budget) {
    const ratio = usage(budget);
    fields.push(`*SNAT ports used*\n${budget.usedPorts} / ${budget.allocatedPorts} (${percent(ratio)} %)`);
    fields.push(`*Failed connections*\n${budget.failedConnections}`);
  } else if (report.natBudget) {
    const nat = report.natBudget;
    const [top] = nat.byDestination;
    if (top) {
      fields.push(
        `*Busiest endpoint*\n${code(formatDestination(top), 80)}: ${top.ports.total} of ${nat.perEndpointCap} (${percent(top.share)} %)`,
      );
    }
    if (nat.gateway) fields.push(`*Gateway failed connections*\n${nat.gateway.failedConnections}`);
  }
  return {
    type: 'section',
    text: { type: 'mrkdwn', text: verdict },
    fields: fields.map((text) => ({ type: 'mrkdwn', text })),
  };
}

function budgetText(budget: SnatBudget, family = ''): string {
  const ratio = usage(budget);
  const ips = `${budget.outboundIpCount} outbound IP${budget.outboundIpCount === 1 ? '' : 's'}`;
  const lines = [
    `\`${usageBar(ratio, 20)}\` ${percent(ratio)} % of ${budget.allocatedPorts} ${family}SNAT ports used`,
    `Azure's default for this pool: ${budget.defaultAllocation} ports per node · ${ips} · room for ${budget.maxNodesAtAllocation} nodes at this allocation`,
  ];
  const destinations = budget.byDestination
    .slice(0, 3)
    .map(
      (d) =>
        `${code(formatDestination(d), 80)} ${plural(d.ports.total, 'port')} (${percent(d.share)} % of the allocation)`,
    );
  if (destinations.length > 0) lines.push(`Destinations needing the most ports: ${destinations.join(', ')}`);
  return lines.join('\n');
}

/** What the model left out besides the built-in private ranges, and why: a reader can tell a VNet from the internet. */
function privateRangesText(report: Report): string {
  const ranges = report.privateRanges.map(
    (r) => `${code(r.cidr, 60)} ${mrkdwn(r.name ? `${r.source} ${r.name}` : r.source, 120)}`,
  );
  return truncate(
    `Not SNAT'd (besides RFC 1918 and the other private ranges): ${ranges.join(', ')}`,
    SLACK_LIMITS.text,
  );
}

function workloadSection(report: Report): Block[] {
  const { workloads } = report;
  if (workloads.length === 0) return [];
  const shown = workloads.slice(0, WORKLOADS_SHOWN);
  const entries = [
    '*Workloads by SNAT use*',
    ...shown.map((w) => {
      const share = w.shareOfUsedPorts !== undefined ? ` · ${percent(w.shareOfUsedPorts)} %` : '';
      const pods =
        w.kind === 'Pod' || w.kind === 'Node' ? '' : ` (${w.pods.length} pod${w.pods.length === 1 ? '' : 's'})`;
      return `*${w.rank}.* ${workloadName(w)}${pods}: ${plural(w.ports.total, 'port')} (${demandParts(w.ports)})${share}`;
    }),
  ];
  if (workloads.length > shown.length) entries.push(`_… and ${workloads.length - shown.length} more workloads_`);
  return pack(entries, '\n').map(section);
}

function podSections(report: Report, maxPods = PODS_SHOWN): Block[] {
  const { culprits } = report;
  const examined = `${report.podsExamined} pod${report.podsExamined === 1 ? '' : 's'} examined`;
  if (culprits.length === 0) {
    const none = podsExamined(report) ? `${examined}, none with public connections` : 'not examined (below)';
    return [section(`*Pods by SNAT use*: ${none}.`)];
  }
  const shown = culprits.slice(0, clamp(Math.floor(maxPods), 1, PODS_MAX, PODS_SHOWN));
  const traced = connectsTraced(report);
  const entries = [`*Pods by SNAT use* (${examined})`, ...shown.map((c) => podEntry(c, traced))];
  if (culprits.length > shown.length) entries.push(`_… and ${culprits.length - shown.length} more pods_`);
  return pack(entries, '\n\n').map(section);
}

function podEntry(c: Culprit, traced: boolean): string {
  const rate = c.connectsPerSecond > 0 ? ` (${c.connectsPerSecond}/s)` : '';
  const connects = traced ? `${c.publicConnects} connects${rate}` : 'connects not traced';
  const share = c.shareOfUsedPorts !== undefined ? ` · ${percent(c.shareOfUsedPorts)} % of the pressure` : '';
  const destinations = c.topDestinations
    .slice(0, 3)
    .map((d) => `${code(formatDestination(d), 80)} ${plural(d.ports.total, 'port')}`)
    .join(', ');
  const shared = c.hostNetworkPods?.length
    ? [`the node's own table, shared by ${c.hostNetworkPods.map((p) => code(p, 120)).join(', ')}`]
    : [];
  return truncate(
    [
      `*${c.rank}.* ${podName(c)}${hostNote(c)}${c.workload.kind === 'Pod' || c.workload.kind === 'Node' ? '' : ` · ${mrkdwn(c.workload.kind, 40)} ${code(c.workload.name, NAME_MAX)}`}`,
      `${plural(c.ports.total, 'port')} (${demandParts(c.ports)})${share}`,
      `${c.publicEstablished} public ESTABLISHED · ${connects} · ${c.timeWait} public TIME_WAIT`,
      ...shared,
      ...(destinations ? [`→ ${destinations}`] : []),
    ].join('\n'),
    POD_ENTRY_MAX,
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function demandParts(ports: PortDemand): string {
  const parts = [`${ports.held} held`, `${ports.churn} churn`];
  if (ports.failed > 0) parts.push(`${ports.failed} failed`);
  return parts.join(' · ');
}

function workloadName(w: Pick<WorkloadCulprit, 'kind' | 'namespace' | 'name'>): string {
  const name = code(`${w.namespace ? `${w.namespace}/` : ''}${w.name}`, NAME_MAX);
  return w.kind === 'Pod'
    ? `Pod ${name}`
    : w.kind === 'Node'
      ? `The node's own network (${name})`
      : `${mrkdwn(w.kind, 40)} ${name}`;
}

/** Steps that did not succeed, with why, and what the node probe could not use. */
function problemSections(report: Report): Block[] {
  const lines = [
    ...report.steps
      .filter((s) => s.status !== 'succeeded')
      .map((s) => `${MARK[s.status]} *${s.name}* ${s.status}${s.detail ? `: ${mrkdwn(s.detail, NOTE_MAX)}` : ''}`),
    ...report.unavailable.map(
      (u) => `• on the node, ${mrkdwn(u.what, NAME_MAX)} was unavailable: ${mrkdwn(u.reason, NOTE_MAX)}`,
    ),
  ];
  if (lines.length === 0) return [];
  const shown = lines.slice(0, PROBLEMS_MAX);
  if (lines.length > shown.length) shown.push(`_… and ${lines.length - shown.length} more_`);
  return pack(['*What did not work*', ...shown], '\n').map(section);
}

function recommendationSections(report: Report, room: number): Block[] {
  const all = report.recommendations;
  const shown = all.slice(0, Math.max(0, Math.min(RECOMMENDATIONS_MAX, room - 1)));
  const more = all.length > shown.length ? ` (the first ${shown.length} of ${all.length})` : '';
  return [section(`*What to do*${more}`), ...shown.map((r, i) => section(recommendationText(r, i)))];
}

function recommendationText(r: Recommendation, index: number): string {
  const text = `*${index + 1}. ${mrkdwn(oneLine(r.title), NAME_MAX)}*\n${mrkdwn(r.detail, DETAIL_MAX)}`;
  const commands = (r.commands ?? []).filter((c) => c.trim() !== '');
  return commands.length > 0 ? `${text}\n${codeBlock(commands, SLACK_LIMITS.text - text.length - 1)}` : text;
}

/** Commands as one code block, each exact unless longer than COMMAND_MAX (then cut, with "…"). */
function codeBlock(commands: string[], room: number): string {
  const lines: string[] = [];
  let length = 6;
  for (const [i, command] of commands.entries()) {
    // A ``` inside a command would close the block early.
    const line = mrkdwn(command.replaceAll('```', '`\u200b`\u200b`'), COMMAND_MAX);
    if (length + line.length + 1 > room - ROOM) {
      return `\`\`\`${lines.join('\n')}\`\`\`\n_… and ${commands.length - i} more commands_`;
    }
    lines.push(line);
    length += line.length + 1;
  }
  return `\`\`\`${lines.join('\n')}\`\`\``;
}

function footerText(report: Report, historyUrl: string | undefined): string {
  const id = code(report.instanceId, 500);
  const link = slackLink(historyUrl);
  const history = link ? `<${link}|its history>` : `history: ${code(`/snat status ${report.instanceId}`, 520)}`;
  const by = report.requestedBy.who ? ` by ${mrkdwn(report.requestedBy.who, NAME_MAX)}` : '';
  const finished = slackDate(report.finishedAt);
  const evidenceLink = slackLink(report.evidence?.url);
  return [
    `Investigation ${id}`,
    history,
    ...(evidenceLink ? [`<${evidenceLink}|evidence>`] : []),
    `requested${by} (${mrkdwn(report.requestedBy.kind, 20)})${finished ? `, finished ${finished}` : ''}`,
  ].join(' · ');
}

function actions(report: Report, options: SlackReportOptions): Block[] {
  const seconds = clamp(
    Math.round(options.request?.captureSeconds ?? CAPTURE_SECONDS.default),
    CAPTURE_SECONDS.min,
    CAPTURE_SECONDS.max,
    CAPTURE_SECONDS.default,
  );
  const node = report.node?.name ?? options.request?.node;
  const { subscriptionId, resourceGroup, name } = report.cluster;
  const value = (s: number, of = node) =>
    JSON.stringify({ cluster: { subscriptionId, resourceGroup, name }, ...(of ? { node: of } : {}), seconds: s });
  const buttons: types.Button[] = [button('Run again', SLACK_ACTIONS.rerun, value(seconds))];
  const longer = Math.min(CAPTURE_SECONDS.max, seconds * 2);
  if (longer > seconds)
    buttons.push(button(`Capture longer (${longer} s)`, SLACK_ACTIONS.captureLonger, value(longer)));
  const next = (report.survey?.nodes ?? []).filter((n) => n.name !== node).slice(0, NEXT_NODE_ACTIONS.length);
  next.forEach((n, i) => {
    const text = truncate(`Investigate ${n.name}`, SLACK_LIMITS.buttonText);
    buttons.push(button(text, NEXT_NODE_ACTIONS[i] as string, value(seconds, n.name)));
  });
  // A value cut short would name another cluster or node: no button rather than a wrong one.
  const fitting = buttons.filter((b) => (b.value ?? '').length <= SLACK_LIMITS.buttonValue);
  return fitting.length > 0 ? [{ type: 'actions', elements: fitting }] : [];
}

function podsExamined(report: Report): boolean {
  return report.steps.some((s) => s.name === 'podConnections' && s.status === 'succeeded');
}

function fallbackText(report: Report): string {
  const { cluster, node, budget } = report;
  const [first] = report.workloads;
  const where = node ? `${node.name} (${cluster.name})` : `${cluster.name}: node not located`;
  const ports = budget ? `, ${budget.usedPorts}/${budget.allocatedPorts} ports used` : '';
  const finding = first
    ? `${first.kind === 'Node' ? "the node's own network" : `${first.kind} ${first.namespace ? `${first.namespace}/` : ''}${first.name}`} needs ${first.ports.total} SNAT ports`
    : node
      ? 'no pod ranked'
      : '';
  return mrkdwn(oneLine(`SNAT on ${where}${ports}${finding ? `: ${finding}` : ''}`), 600);
}

// --- Block builders ---

function header(text: string): types.HeaderBlock {
  return { type: 'header', text: { type: 'plain_text', text: truncate(oneLine(text), SLACK_LIMITS.headerText) } };
}

function section(text: string): types.SectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SLACK_LIMITS.text) } };
}

function context(text: string): types.ContextBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, SLACK_LIMITS.text) }] };
}

function divider(): types.DividerBlock {
  return { type: 'divider' };
}

function button(text: string, actionId: string, value: string): types.Button {
  return { type: 'button', text: { type: 'plain_text', text }, action_id: actionId, value };
}

/** Lines joined into as few texts as fit (each line already shorter than a text). */
function pack(lines: string[], separator: string): string[] {
  const texts: string[] = [];
  let current = '';
  for (const line of lines) {
    const joined = current ? `${current}${separator}${line}` : line;
    if (joined.length <= SLACK_LIMITS.text - ROOM) current = joined;
    else {
      if (current) texts.push(current);
      current = truncate(line, SLACK_LIMITS.text - ROOM);
    }
  }
  return current ? [...texts, current] : texts;
}

// --- Text ---

/** Escapes text for mrkdwn (so `<@U123>` or `<!channel>` in a pod name stays text) and cuts it to `max`. */
function mrkdwn(raw: string, max: number): string {
  return truncate(escapeMrkdwn(raw), max);
}

export function escapeMrkdwn(raw: string): string {
  return raw.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function code(raw: string, max: number): string {
  return `\`${mrkdwn(oneLine(raw).replaceAll('`', "'"), max)}\``;
}

function podName(c: Culprit): string {
  return code(`${c.namespace ? `${c.namespace}/` : ''}${c.pod}`, NAME_MAX);
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/**
 * Cuts `text` to at most `max` UTF-16 units, ending in "…" when cut: never inside a surrogate pair, an entity
 * (`&amp;`) or one of our `<…>` tokens (every `<` left in escaped text is ours).
 */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const unit = text.charCodeAt(end - 1);
  if (unit >= 0xd800 && unit <= 0xdbff) end--;
  const amp = text.lastIndexOf('&', end - 1);
  if (amp >= 0 && amp > end - 5 && !text.slice(amp, end).includes(';')) end = amp;
  const open = text.lastIndexOf('<', end - 1);
  if (open >= 0 && !text.slice(open, end).includes('>')) end = open;
  return `${text.slice(0, end)}…`;
}

/** `<url|…>` takes an http(s) URL, escaped like any text and without `|`; anything else is not linked. */
function slackLink(url: string | undefined): string | undefined {
  if (!url || !URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  const href = escapeMrkdwn(parsed.href.replaceAll('|', '%7C'));
  return href.length <= 1000 ? href : undefined;
}

/** Slack shows the date in the reader's time zone; the ISO text is the fallback. */
function slackDate(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${new Date(ms).toISOString()}>`;
}

function secondsUntil(iso: string | undefined, now: Date): number | undefined {
  const ms = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? Math.max(0, Math.ceil((ms - now.getTime()) / 1000)) : undefined;
}

function usage(budget: SnatBudget): number {
  return budget.allocatedPorts > 0 ? budget.usedPorts / budget.allocatedPorts : 0;
}

function tone(budget: SnatBudget | undefined, nat?: NatBudget): string {
  const { ratio, failing } = budget
    ? { ratio: usage(budget), failing: budget.failedConnections > 0 }
    : nat
      ? natBudgetLines(nat)
      : { ratio: Number.NaN, failing: false };
  if (Number.isNaN(ratio)) return '⚪';
  return ratio >= 0.9 || failing ? '🔴' : ratio >= 0.75 ? '🟠' : '🟢';
}

function natBudgetText(nat: NatBudget, survey?: NatSurvey): string {
  const { ratio, lines } = natBudgetLines(nat, survey);
  const [first, ...rest] = lines.map((line) => mrkdwn(line, 400));
  return [`\`${usageBar(ratio, 20)}\` ${first}`, ...rest].join('\n');
}

function percent(ratio: number): number {
  return Number.isFinite(ratio) ? Math.round(ratio * 100) : 0;
}

function usageBar(ratio: number, width: number): string {
  const filled = clamp(Math.round(ratio * width), 0, width, 0);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function clamp(value: number, min: number, max: number, fallback: number): number {
  return Number.isFinite(value) ? Math.max(min, Math.min(max, value)) : fallback;
}

// --- Limits ---

type Loose = Record<string, unknown>;
const loose = (value: unknown): Loose => (typeof value === 'object' && value !== null ? (value as Loose) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Every way `message` breaks Slack's Block Kit limits, each named by its path. Empty when Slack would accept it. */
export function checkSlackLimits(message: { text?: string; blocks?: readonly unknown[] }): string[] {
  const L = SLACK_LIMITS;
  const problems: string[] = [];
  const length = (path: string, value: unknown, max: number, min = 1) => {
    if (typeof value !== 'string') problems.push(`${path}: not a string`);
    else if (value.length > max) problems.push(`${path}: ${value.length} characters, more than ${max}`);
    else if (value.length < min) problems.push(`${path}: empty`);
  };
  const textObject = (path: string, value: unknown, max: number, types = ['mrkdwn', 'plain_text']) => {
    const object = loose(value);
    if (!types.includes(object.type as string)) problems.push(`${path}.type: ${String(object.type)}, not ${types}`);
    length(`${path}.text`, object.text, max);
  };
  const count = (path: string, items: unknown[], max: number, min = 1) => {
    if (items.length > max) problems.push(`${path}: ${items.length} elements, more than ${max}`);
    if (items.length < min) problems.push(`${path}: empty`);
  };

  if (message.text !== undefined) length('text', message.text, L.text, 0);
  const blocks = message.blocks ?? [];
  if (blocks.length > L.blocks) problems.push(`blocks: ${blocks.length} blocks, more than ${L.blocks}`);
  const actionIds = new Set<string>();
  blocks.forEach((value, i) => {
    const block = loose(value);
    const path = `blocks[${i}]`;
    if (block.block_id !== undefined) length(`${path}.block_id`, block.block_id, L.blockId);
    if (block.type === 'header') textObject(`${path}.text`, block.text, L.headerText, ['plain_text']);
    else if (block.type === 'section') {
      const fields = list(block.fields);
      if (block.text === undefined && fields.length === 0) problems.push(`${path}: neither text nor fields`);
      if (block.text !== undefined) textObject(`${path}.text`, block.text, L.text);
      count(`${path}.fields`, fields, L.fields, 0);
      for (const [j, field] of fields.entries()) textObject(`${path}.fields[${j}]`, field, L.fieldText);
    } else if (block.type === 'context') {
      const elements = list(block.elements);
      count(`${path}.elements`, elements, L.contextElements);
      elements.forEach((element, j) => {
        if (loose(element).type !== 'image') textObject(`${path}.elements[${j}]`, element, L.text);
      });
    } else if (block.type === 'actions') {
      const elements = list(block.elements);
      count(`${path}.elements`, elements, L.actionsElements);
      elements.forEach((value, j) => {
        const element = loose(value);
        const at = `${path}.elements[${j}]`;
        if (element.type === 'button') textObject(`${at}.text`, element.text, L.buttonText, ['plain_text']);
        if (element.value !== undefined) length(`${at}.value`, element.value, L.buttonValue, 0);
        if (element.url !== undefined) length(`${at}.url`, element.url, L.url);
        if (element.action_id !== undefined) {
          length(`${at}.action_id`, element.action_id, L.actionId);
          if (actionIds.has(String(element.action_id))) problems.push(`${at}.action_id: used twice in the message`);
          actionIds.add(String(element.action_id));
        }
      });
    }
  });
  return problems;
}
