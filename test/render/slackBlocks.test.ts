import { beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type {
  Culprit,
  DestinationPressure,
  NatBudget,
  NatSurvey,
  PortDemand,
  Recommendation,
  Report,
  SnatBudget,
  StepName,
  StepOutcome,
  WorkloadCulprit,
} from '../../lib/model.ts';
import {
  checkSlackLimits,
  renderSlackError,
  renderSlackHelp,
  renderSlackProgress,
  renderSlackReport,
  SLACK_ACTIONS,
  SLACK_LIMITS,
  type SlackMessage,
  type SlackReportOptions,
} from '../../lib/render/slackBlocks.ts';
import type { InvestigationStatus } from '../../lib/workflow/investigate.ts';
import { investigateOn } from '../support/runtime.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

const STEPS: StepName[] = ['locateNode', 'captureNode', 'mapPods', 'podConnections', 'rankAndReport'];
const CLUSTER = { subscriptionId: '00000000-0000-0000-0000-000000000001', resourceGroup: 'rg-shop', name: 'aks-shop' };

function ports(held: number, churn: number, failed = 0): PortDemand {
  return { held, churn, failed, total: held + churn + failed };
}

function destination(overrides: Partial<DestinationPressure> = {}): DestinationPressure {
  return {
    ip: '20.1.2.3',
    port: 443,
    protocol: 'tcp',
    connections: 400,
    timeWait: 30,
    connectsPerSecond: 40,
    ports: ports(400, 9600, 12),
    ...overrides,
  };
}

function culprit(overrides: Partial<Culprit> = {}): Culprit {
  return {
    rank: 1,
    namespace: 'shop',
    pod: 'cart-7f9c-abcde',
    hostNetwork: false,
    workload: { kind: 'Deployment', name: 'cart' },
    publicEstablished: 500,
    publicConnects: 1200,
    connectsPerSecond: 40,
    timeWait: 30,
    source: 'node-snapshot',
    ports: ports(500, 9600, 12),
    pressure: 10_000,
    topDestinations: [destination()],
    shareOfUsedPorts: 0.5,
    ...overrides,
  };
}

function workload(overrides: Partial<WorkloadCulprit> = {}): WorkloadCulprit {
  return {
    rank: 1,
    namespace: 'shop',
    kind: 'Deployment',
    name: 'cart',
    pods: ['cart-7f9c-abcde'],
    publicEstablished: 500,
    publicConnects: 1200,
    connectsPerSecond: 40,
    timeWait: 30,
    ports: ports(500, 9600, 12),
    pressure: 10_000,
    shareOfUsedPorts: 0.5,
    topDestinations: [destination()],
    ...overrides,
  };
}

function reportWith(overrides: Partial<Report> = {}): Report {
  return {
    instanceId: 'snat:rg-shop:aks-shop:most-exhausted',
    cluster: CLUSTER,
    node: { name: 'aks-pool-1-vmss000000', ip: '10.0.0.4', os: 'linux' },
    startedAt: '2025-03-01T10:00:00.000Z',
    finishedAt: '2025-03-01T10:01:00.000Z',
    requestedBy: { kind: 'slack', who: 'U0001' },
    budget: {
      usedPorts: 1000,
      allocatedPorts: 1024,
      failedConnections: 12,
      defaultAllocation: 1024,
      outboundIpCount: 1,
      maxNodesAtAllocation: 62,
      byDestination: [
        { ip: '20.1.2.3', port: 443, protocol: 'tcp', connections: 400, ports: ports(400, 9600, 12), share: 9.78 },
      ],
    },
    culprits: [culprit()],
    workloads: [workload()],
    privateRanges: [],
    steps: STEPS.map((name) => ({ name, status: 'succeeded' })),
    recommendations: [{ kind: 'fix-culprit', title: 'Fix shop/cart', detail: 'Reuse connections.' }],
    podsExamined: 12,
    unavailable: [],
    ...overrides,
  };
}

/** Every text object of a message, by kind, and the fallback. */
function textsOf(message: SlackMessage): { mrkdwn: string[]; plain: string[] } {
  const found = { mrkdwn: [message.text], plain: [] as string[] };
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null) {
      const object = value as Record<string, unknown>;
      if (object.type === 'mrkdwn' && typeof object.text === 'string') found.mrkdwn.push(object.text);
      if (object.type === 'plain_text' && typeof object.text === 'string') found.plain.push(object.text);
      Object.values(object).forEach(walk);
    }
  };
  walk(message.blocks);
  return found;
}

const allText = (message: SlackMessage) => textsOf(message).mrkdwn.join('\n');
const headerOf = (message: SlackMessage) => textsOf(message).plain[0];

function buttonsOf(message: SlackMessage): { actionId: string; text: string; value: unknown }[] {
  return message.blocks.flatMap((b) =>
    b.type === 'actions'
      ? b.elements.map((e) => {
          const button = e as { action_id: string; text: { text: string }; value: string };
          return { actionId: button.action_id, text: button.text.text, value: JSON.parse(button.value) };
        })
      : [],
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What every rendering must hold: Slack's limits, whole characters, and no mrkdwn control sequence but ours. */
function expectSafe(message: SlackMessage): void {
  expect(checkSlackLimits(message)).toEqual([]);
  const { mrkdwn, plain } = textsOf(message);
  for (const text of [...mrkdwn, ...plain]) expect(text).not.toMatch(LONE_SURROGATE);
  for (const text of mrkdwn) {
    expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
    // Our only tokens: a date, and the history link.
    expect(text.replace(/<!date\^\d+\^[^|>]*\|[^>]*>|<https?:[^|>]*\|its history>/g, '')).not.toMatch(/[<>]/);
  }
}

describe('renderSlackReport on the sandbox', () => {
  const reports: Record<string, Report> = {};
  beforeAll(async () => {
    reports.sandbox = (await investigateOn(scenarioWith())).report;
    reports.failedCapture = (
      await investigateOn(withFaults({ target: 'probe.capture', error: 'failed', message: 'probe pod stuck Pending' }))
    ).report;
    reports.noNode = (await investigateOn(scenarioWith(), { node: 'aks-nodepool9-00000000-vmss000009' })).report;
  });

  test.each([
    {
      scenario: 'the default sandbox: culprit workload, budget bar, workloads and pods by SNAT use, and the exact fix',
      report: 'sandbox',
      header: '🔴 SNAT ports: aks-nodepool1-31415926-vmss000001',
      contains: [
        "Deployment `payments/checkout-api` needs *1385* SNAT ports (905 held · 480 churn), 91 % of the node's SNAT pressure; the busiest destination, `20.50.2.10:443`, needs 980 ports.",
        '*Cluster*\n`aks-prod` (rg-payments-prod)',
        '*SNAT ports used*\n1016 / 1024 (99 %)',
        '*Failed connections*\n240',
        '`████████████████████` 99 % of 1024 SNAT ports used',
        'Destinations needing the most ports: `20.50.2.10:443` 980 ports (96 % of the allocation)',
        '*Workloads by SNAT use*\n*1.* Deployment `payments/checkout-api` (1 pod): 1385 ports (905 held · 480 churn) · 91 %',
        '*2.* Deployment `payments/fraud-score` (2 pods): 246 ports (6 held · 240 churn)',
        '*1.* `payments/checkout-api-7d9f8b6c5d-x2x9k` · Deployment `checkout-api`\n1385 ports (905 held · 480 churn) · 91 % of the pressure',
        '905 public ESTABLISHED · 60 connects (2/s) · 90 public TIME_WAIT',
        '→ `20.50.2.10:443` 980 ports, `20.50.2.11:443` 405 ports',
        '`kube-system/konnectivity-agent-8d7f6c5b9-2jx7p` (hostNetwork)',
        'Fix connection handling in Deployment payments/checkout-api (pod checkout-api-7d9f8b6c5d-x2x9k)',
        '*What to do*',
        '```az aks update --resource-group rg-payments-prod --name aks-prod',
        'Investigation `snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:',
      ],
      absent: ['What did not work', 'connects not traced'],
    },
    {
      scenario: 'a failed capture is reported next to the pods that were still ranked',
      report: 'failedCapture',
      header: '🔴 SNAT ports: aks-nodepool1-31415926-vmss000001',
      contains: ['*What did not work*\n✖ *captureNode* failed: probe pod stuck Pending', 'connects not traced'],
      absent: ['new ones a second'],
    },
    {
      scenario: 'no node (locateNode failed): the failure and the skipped steps, no budget',
      report: 'noNode',
      header: '⚪ SNAT ports: aks-prod, node not located',
      contains: [
        'No pods ranked: the investigation did not get that far',
        '*Node*\nnot located',
        '*Pods by SNAT use*: not examined (below).',
        '✖ *locateNode* failed: No node aks-nodepool9-00000000-vmss000009',
        '– *captureNode* skipped: no node to investigate',
      ],
      absent: ['SNAT ports used', '█', '*What to do*'],
    },
  ])('$scenario', ({ report: name, header, contains, absent }) => {
    const report = reports[name] as Report;
    const message = renderSlackReport(report);
    expectSafe(message);
    expect(headerOf(message)).toBe(header);
    const text = allText(message);
    for (const piece of contains) expect(text).toContain(piece);
    for (const piece of absent) expect(text).not.toContain(piece);
    // Every command, exactly as the report has it.
    for (const command of report.recommendations.flatMap((r) => r.commands ?? [])) expect(text).toContain(command);
  });

  test('the fallback text names the culprit and the node in one line', () => {
    expect(renderSlackReport(reports.sandbox as Report).text).toBe(
      'SNAT on aks-nodepool1-31415926-vmss000001 (aks-prod), 1016/1024 ports used: ' +
        'Deployment payments/checkout-api needs 1385 SNAT ports',
    );
    expect(renderSlackReport(reports.noNode as Report).text).toBe('SNAT on aks-prod: node not located');
  });
});

describe('renderSlackReport', () => {
  test("lists the ranges left out of the model and where each comes from (a VNet's public block is no culprit)", () => {
    const message = renderSlackReport(
      reportWith({
        privateRanges: [
          { cidr: '10.244.0.0/16', source: 'pods' },
          { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-bank-spoke' },
        ],
      }),
    );
    expect(allText(message)).toContain(
      "Not SNAT'd (besides RFC 1918 and the other private ranges): `10.244.0.0/16` pods, `30.10.0.0/16` vnet vnet-bank-spoke",
    );
    expectSafe(message);
  });

  test.each([
    { scenario: 'the default capture doubles', seconds: undefined, rerun: 30, longer: 60 },
    { scenario: 'a short capture doubles', seconds: 5, rerun: 5, longer: 10 },
    { scenario: 'doubling stops at 300 s', seconds: 200, rerun: 200, longer: 300 },
    { scenario: 'at 300 s there is nothing longer to offer', seconds: 300, rerun: 300, longer: undefined },
    { scenario: 'an out-of-range request is clamped', seconds: 9999, rerun: 300, longer: undefined },
  ])('buttons: $scenario', ({ seconds, rerun, longer }) => {
    const request = seconds === undefined ? undefined : { captureSeconds: seconds };
    const buttons = buttonsOf(renderSlackReport(reportWith(), { request }));
    const value = (s: number) => ({ cluster: CLUSTER, node: 'aks-pool-1-vmss000000', seconds: s });
    expect(buttons).toEqual([
      { actionId: SLACK_ACTIONS.rerun, text: 'Run again', value: value(rerun) },
      ...(longer
        ? [{ actionId: SLACK_ACTIONS.captureLonger, text: `Capture longer (${longer} s)`, value: value(longer) }]
        : []),
    ]);
  });

  test('buttons re-run the requested node when none was located, and the most exhausted one when none was asked', () => {
    const noNode = reportWith({ node: undefined, budget: undefined });
    const [asked] = buttonsOf(renderSlackReport(noNode, { request: { node: '10.0.0.9', captureSeconds: 30 } }));
    expect(asked?.value).toEqual({ cluster: CLUSTER, node: '10.0.0.9', seconds: 30 });
    const [mostExhausted] = buttonsOf(renderSlackReport(noNode));
    expect(mostExhausted?.value).toEqual({ cluster: CLUSTER, seconds: 30 });
  });

  test('no buttons rather than a value cut short when the cluster does not fit in one', () => {
    const report = reportWith({ cluster: { ...CLUSTER, name: 'a'.repeat(SLACK_LIMITS.buttonValue) } });
    const message = renderSlackReport(report);
    expectSafe(message);
    expect(message.blocks.some((b) => b.type === 'actions')).toBe(false);
  });

  test.each([
    {
      scenario: 'an https URL becomes the history link',
      historyUrl: 'https://dashboard.example/x?id=a|b&view=history',
      footer: '<https://dashboard.example/x?id=a%7Cb&amp;view=history|its history>',
    },
    { scenario: 'without one, the status command', historyUrl: undefined, footer: 'history: `/snat status snat:' },
    { scenario: 'anything but http(s) is not linked', historyUrl: 'javascript:alert(1)', footer: 'history: `/snat' },
  ])('footer: $scenario', ({ historyUrl, footer }) => {
    const message = renderSlackReport(reportWith(), { historyUrl });
    expectSafe(message);
    const context = message.blocks.find((b) => b.type === 'context');
    expect(JSON.stringify(context)).toContain('Investigation `snat:rg-shop:aks-shop:most-exhausted`');
    expect(allText(message)).toContain(footer);
    expect(allText(message)).toContain('<!date^1740823260^{date_short_pretty} at {time}|2025-03-01T10:01:00.000Z>');
  });

  test('a node with 250 pods, very long names and commands stays within the limits', () => {
    const long = (what: string) => `${what}-${'x'.repeat(4000)}`;
    const report = reportWith({
      node: { name: long('node'), ip: '10.0.0.4', os: 'linux' },
      culprits: Array.from({ length: 250 }, (_, i) =>
        culprit({
          rank: i + 1,
          namespace: long('ns'),
          pod: long(`pod-${i}`),
          hostNetwork: i % 7 === 0,
          topDestinations: Array.from({ length: 10 }, (_, j) =>
            destination({ ip: `2001:db8::${j}`, port: 443, connections: j }),
          ),
          ...(i === 0 ? { hostNetworkPods: Array.from({ length: 40 }, (_, j) => long(`kube-system/ds-${j}`)) } : {}),
        }),
      ),
      workloads: Array.from({ length: 120 }, (_, i) =>
        workload({
          rank: i + 1,
          namespace: long('ns'),
          name: long(`workload-${i}`),
          kind: i % 5 === 0 ? 'Pod' : long('Kind'),
          pods: Array.from({ length: 50 }, (_, j) => long(`pod-${j}`)),
          topDestinations: Array.from({ length: 10 }, (_, j) => destination({ ip: long(`2001:db8::${j}`) })),
        }),
      ),
      recommendations: Array.from({ length: 40 }, (_, i) => ({
        kind: 'fix-culprit',
        title: long(`title ${i}`),
        detail: long('detail'),
        commands: Array.from({ length: 20 }, (_, j) => long(`az aks update --name aks-shop-${j}`)),
      })),
      unavailable: Array.from({ length: 30 }, (_, i) => ({ what: `tool-${i}`, reason: long('missing') })),
    });
    const message = renderSlackReport(report);
    expectSafe(message);
    const text = allText(message);
    expect(text).toContain('_… and 240 more pods_');
    expect(text).toContain('*What to do* (the first');
    expect(text).toContain('more commands_');
    expect(text).toContain('_… and 20 more_');
    expect(headerOf(message)?.endsWith('…')).toBe(true);
  });

  test.each([
    { maxPods: undefined, shown: 10 },
    { maxPods: 3, shown: 3 },
    { maxPods: 0, shown: 1 },
    { maxPods: 1000, shown: 25 },
  ])('maxPods $maxPods shows $shown of 250 pods', ({ maxPods, shown }) => {
    const culprits = Array.from({ length: 250 }, (_, i) => culprit({ rank: i + 1, pod: `pod-${i}` }));
    const message = renderSlackReport(reportWith({ culprits }), { maxPods });
    expectSafe(message);
    const text = allText(message);
    expect(text).toContain(`*${shown}.* \`shop/pod-${shown - 1}\``);
    expect(text).not.toContain(`*${shown + 1}.*`);
    expect(text).toContain(`_… and ${250 - shown} more pods_`);
  });

  test('workloads by SNAT use come before the pods, each with its ports by cause (held · churn · failed)', () => {
    const report = reportWith({
      workloads: [
        workload(),
        workload({
          rank: 2,
          namespace: 'jobs',
          kind: 'CronJob',
          name: 'sync',
          pods: ['sync-1', 'sync-2'],
          ports: ports(3, 240),
          shareOfUsedPorts: 0.03,
        }),
        workload({
          rank: 3,
          namespace: 'default',
          kind: 'Pod',
          name: 'debug',
          pods: ['debug'],
          ports: ports(2, 0),
          shareOfUsedPorts: undefined,
        }),
        workload({
          rank: 4,
          namespace: '',
          kind: 'Node',
          name: 'aks-pool-1-vmss000000',
          pods: ['host network'],
          ports: ports(1, 0),
          shareOfUsedPorts: 0.01,
        }),
      ],
    });
    const message = renderSlackReport(report);
    expectSafe(message);
    const text = allText(message);
    // The verdict: the top workload, its top destination and its ports by cause.
    expect(text).toContain(
      "Deployment `shop/cart` needs *10112* SNAT ports (500 held · 9600 churn · 12 failed), 50 % of the node's SNAT pressure; the busiest destination, `20.1.2.3:443`, needs 10012 ports.",
    );
    expect(text).toContain(
      [
        '*Workloads by SNAT use*',
        '*1.* Deployment `shop/cart` (1 pod): 10112 ports (500 held · 9600 churn · 12 failed) · 50 %',
        '*2.* CronJob `jobs/sync` (2 pods): 243 ports (3 held · 240 churn) · 3 %', // no failures: not said
        '*3.* Pod `default/debug`: 2 ports (2 held · 0 churn)', // a pod is its own workload; no share: none shown
        "*4.* The node's own network (`aks-pool-1-vmss000000`): 1 port (1 held · 0 churn) · 1 %", // no pod count
      ].join('\n'),
    );
    expect(text.indexOf('*Workloads by SNAT use*')).toBeLessThan(text.indexOf('*Pods by SNAT use*'));
    expect(text).toContain(
      '*1.* `shop/cart-7f9c-abcde` · Deployment `cart`\n10112 ports (500 held · 9600 churn · 12 failed)',
    );
    expect(message.text).toBe(
      'SNAT on aks-pool-1-vmss000000 (aks-shop), 1000/1024 ports used: Deployment shop/cart needs 10112 SNAT ports',
    );
  });

  test('more than five workloads: the rest are counted', () => {
    const workloads = Array.from({ length: 8 }, (_, i) => workload({ rank: i + 1, name: `w-${i}` }));
    const text = allText(renderSlackReport(reportWith({ workloads })));
    expect(text).toContain('*5.* Deployment `shop/w-4`');
    expect(text).not.toContain('*6.* Deployment');
    expect(text).toContain('_… and 3 more workloads_');
  });

  test("the node's own table names the hostNetwork pods that share it", () => {
    const host = culprit({
      namespace: '',
      pod: 'host network',
      hostNetwork: true,
      workload: { kind: 'Node', name: 'aks-pool-1-vmss000000' },
      hostNetworkPods: ['kube-system/azure-cns-x', 'kube-system/kube-proxy-y'],
    });
    const text = allText(renderSlackReport(reportWith({ culprits: [host] })));
    expect(text).toContain('*1.* `host network`\n');
    expect(text).toContain("the node's own table, shared by `kube-system/azure-cns-x`, `kube-system/kube-proxy-y`");
    expect(text).not.toContain('(hostNetwork)');
  });

  test('no workloads: no workloads section', () => {
    expect(allText(renderSlackReport(reportWith({ workloads: [] })))).not.toContain('Workloads by SNAT use');
  });

  test('a mention or link in a pod or workload name, a title or a detail stays text', () => {
    const report = reportWith({
      culprits: [culprit({ namespace: '<!channel>', pod: '<@U123>&co', hostNetworkPods: ['<!everyone>'] })],
      workloads: [workload({ namespace: '<!channel>', kind: '<!here>', name: '<@U123>&co' })],
      recommendations: [
        { kind: 'fix-culprit', title: '<!here> fix', detail: '<https://evil.example|click>', commands: ['echo <@U1>'] },
      ],
      requestedBy: { kind: 'slack', who: '<@U999>' },
      unavailable: [{ what: '<!subteam^S1>', reason: 'a > b' }],
    });
    const message = renderSlackReport(report);
    expectSafe(message);
    const text = allText(message);
    expect(text).toContain('`&lt;!channel&gt;/&lt;@U123&gt;&amp;co`');
    expect(text).toContain('&lt;!here&gt; `&lt;!channel&gt;/&lt;@U123&gt;&amp;co`');
    expect(text).toContain('`&lt;!everyone&gt;`');
    expect(text).toContain('&lt;https://evil.example|click&gt;');
    expect(text).toContain('```echo &lt;@U1&gt;```');
    expect(message.text).toContain('&lt;!channel&gt;/&lt;@U123&gt;&amp;co');
  });

  test('a cut never splits a surrogate pair and says so with …', () => {
    for (const length of [2998, 2999, 3000, 3001]) {
      const pod = `${'a'.repeat(length % 2)}${'😀'.repeat(length)}`;
      const message = renderSlackReport(reportWith({ culprits: [culprit({ pod })] }));
      expectSafe(message);
      expect(allText(message)).toContain('😀…');
    }
  });

  test('rendering is deterministic', () => {
    expect(renderSlackReport(reportWith())).toEqual(renderSlackReport(reportWith()));
  });
});

describe('renderSlackProgress', () => {
  const now = new Date('2025-03-01T10:00:07.400Z');
  const finished: StepOutcome[] = [
    { name: 'locateNode', status: 'succeeded', detail: 'aks-pool-1-vmss000000 (10.0.0.4)' },
    { name: 'captureNode', status: 'failed', detail: 'probe pod stuck <Pending>' },
    { name: 'mapPods', status: 'skipped' },
  ];
  const status = (overrides: Partial<InvestigationStatus>): InvestigationStatus => ({
    step: 'captureNode',
    index: 2,
    of: 5,
    message: 'Capturing connections on aks-pool-1-vmss000000 for 30 s',
    steps: [],
    ...overrides,
  });

  test.each([
    {
      scenario: 'the capture counts down (rounded up)',
      status: status({ captureEndsAt: '2025-03-01T10:00:30.000Z' }),
      text: '[2/5] Capturing connections on aks-pool-1-vmss000000 for 30 s (capture ends in 23 s)',
      contains: ['*[2/5]* Capturing connections on aks-pool-1-vmss000000 for 30 s\n⏱ capture ends in 23 s'],
    },
    {
      scenario: 'a capture past its end says it is being read',
      status: status({ captureEndsAt: '2025-03-01T10:00:05.000Z' }),
      text: '[2/5] Capturing connections on aks-pool-1-vmss000000 for 30 s (capture over, reading its results)',
      contains: ['⏱ capture over, reading its results'],
    },
    {
      scenario: 'pods done of total, and the finished steps marked',
      status: status({
        step: 'podConnections',
        index: 4,
        message: 'Counting connections of 31 pods',
        pods: { done: 12, total: 31 },
        steps: finished,
      }),
      text: '[4/5] Counting connections of 31 pods',
      contains: [
        '`████░░░░░░` 12/31 pods done',
        '✔ *locateNode* aks-pool-1-vmss000000 (10.0.0.4)\n✖ *captureNode* probe pod stuck &lt;Pending&gt;\n– *mapPods*',
      ],
    },
  ])('$scenario', ({ status, text, contains }) => {
    const message = renderSlackProgress(status, now);
    expectSafe(message);
    expect(message.text).toBe(text);
    for (const piece of contains) expect(allText(message)).toContain(piece);
  });
});

describe('renderSlackHelp and renderSlackError', () => {
  test('help lists the three commands with examples', () => {
    const message = renderSlackHelp();
    expectSafe(message);
    const text = allText(message);
    for (const usage of [
      '/snat diagnose [cluster] [node-name|node-ip] [--seconds N]',
      '/snat status [id]',
      '/snat help',
    ]) {
      expect(text).toContain(`\`${usage}\``);
    }
    expect(text).toContain('/snat diagnose aks-prod 10.224.0.5 --seconds 120');
  });

  test('an error says what is wrong, escaped and cut to fit', () => {
    const message = renderSlackError(`--seconds <@U1> is not valid: use 5-300.${'!'.repeat(5000)}`);
    expectSafe(message);
    expect(allText(message)).toContain('⚠️ --seconds &lt;@U1&gt; is not valid: use 5-300.!!!');
    expect(allText(message)).toContain('…');
  });
});

describe('checkSlackLimits', () => {
  test('names every violation by its path', () => {
    const section = { type: 'section', text: { type: 'mrkdwn', text: 'ok' } };
    const button = (actionId: string, text = 'Go', value = '{}') => ({
      type: 'button',
      action_id: actionId,
      text: { type: 'plain_text', text },
      value,
    });
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } },
      { type: 'section', text: { type: 'mrkdwn', text: '' } },
      { type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 't'.repeat(3001) }] },
      { type: 'actions', elements: [button('a', 'b'.repeat(76)), button('a', 'Go', 'v'.repeat(2001))] },
      ...Array.from({ length: 46 }, () => section),
    ];
    expect(checkSlackLimits({ text: 'fine', blocks })).toEqual([
      'blocks: 51 blocks, more than 50',
      'blocks[0].text.text: 151 characters, more than 150',
      'blocks[1].text.text: empty',
      'blocks[2].fields: 11 elements, more than 10',
      'blocks[3].elements[0].text: 3001 characters, more than 3000',
      'blocks[4].elements[0].text.text: 76 characters, more than 75',
      'blocks[4].elements[1].value: 2001 characters, more than 2000',
      'blocks[4].elements[1].action_id: used twice in the message',
    ]);
  });
});

describe('every rendering is within the limits (property)', () => {
  const huge = fc.string({
    unit: fc.constantFrom('&', '<', '>', '`', '*', '|', '\n', 'a', '😀'),
    minLength: 1000,
    maxLength: 6000,
  });
  const text = fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 1, arbitrary: huge },
  );
  const count = fc.oneof(fc.nat({ max: 70_000 }), fc.integer(), fc.double());
  const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  const demandArb: fc.Arbitrary<PortDemand> = fc.record({ held: count, churn: count, failed: count, total: count });
  const protocol = fc.constantFrom('tcp' as const, 'udp' as const);
  const destinationArb: fc.Arbitrary<DestinationPressure> = fc.record({
    ip: text,
    port: fc.nat({ max: 65_535 }),
    protocol,
    connections: count,
    timeWait: count,
    connectsPerSecond: count,
    ports: demandArb,
  });
  const kind = fc.oneof(fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Pod', 'Node'), text);
  const culpritArb: fc.Arbitrary<Culprit> = fc.record({
    rank: fc.nat(),
    namespace: text,
    pod: text,
    hostNetwork: fc.boolean(),
    workload: fc.record({ kind, name: text }),
    publicEstablished: count,
    publicConnects: count,
    connectsPerSecond: count,
    timeWait: count,
    source: fc.constantFrom('node-snapshot', 'exec-proc-net-tcp', 'exec-netstat', 'none'),
    ports: demandArb,
    pressure: count,
    topDestinations: fc.array(destinationArb, { maxLength: 6 }),
    shareOfUsedPorts: optional(fc.double()),
    hostNetworkPods: optional(fc.array(text, { maxLength: 8 })),
  });
  const workloadArb: fc.Arbitrary<WorkloadCulprit> = fc.record({
    rank: fc.nat(),
    namespace: text,
    kind,
    name: text,
    pods: fc.array(text, { maxLength: 12 }),
    publicEstablished: count,
    publicConnects: count,
    connectsPerSecond: count,
    timeWait: count,
    ports: demandArb,
    pressure: count,
    shareOfUsedPorts: optional(fc.double()),
    topDestinations: fc.array(destinationArb, { maxLength: 6 }),
  });
  const budgetArb: fc.Arbitrary<SnatBudget> = fc.record({
    usedPorts: count,
    allocatedPorts: count,
    failedConnections: count,
    defaultAllocation: count,
    outboundIpCount: count,
    maxNodesAtAllocation: count,
    byDestination: fc.array(
      fc.record({ ip: text, port: fc.nat(), protocol, connections: count, ports: demandArb, share: fc.double() }),
      { maxLength: 12 },
    ),
  });
  const natBudgetArb: fc.Arbitrary<NatBudget> = fc.record({
    publicIpCount: count,
    ports: count,
    perEndpointCap: count,
    gateway: optional(
      fc.record({ gateways: count, failedConnections: count, totalConnections: count, droppedPackets: count }),
    ),
    byDestination: fc.array(
      fc.record({ ip: text, port: fc.nat(), protocol, connections: count, ports: demandArb, share: fc.double() }),
      { maxLength: 12 },
    ),
    hotEndpoint: optional(fc.record({ ip: text, port: fc.nat(), connections: count, share: fc.double() })),
  });
  const surveyArb: fc.Arbitrary<NatSurvey> = fc.record({
    destination: optional(fc.record({ ip: text, port: fc.nat(), connections: count })),
    nodes: fc.array(fc.record({ name: text, connections: count }), { maxLength: 6 }),
    pods: fc.array(fc.record({ node: text, namespace: text, pod: text, connections: count }), { maxLength: 10 }),
    nodesSurveyed: count,
    podsRead: count,
    podsUnread: count,
    unreadSamples: fc.array(text, { maxLength: 3 }),
    podsLeft: count,
    hostNetworkPods: count,
  });
  const recommendation: fc.Arbitrary<Recommendation> = fc.record({
    kind: fc.constantFrom('fix-culprit', 'capacity', 'nat-gateway', 'investigate-further'),
    title: text,
    detail: text,
    commands: optional(fc.array(text, { maxLength: 25 })),
  });
  const step: fc.Arbitrary<StepOutcome> = fc.record({
    name: fc.constantFrom(...STEPS),
    status: fc.constantFrom('succeeded', 'failed', 'skipped'),
    detail: optional(text),
  });
  const report: fc.Arbitrary<Report> = fc.record({
    instanceId: text,
    cluster: fc.record({ subscriptionId: text, resourceGroup: text, name: text }),
    node: optional(fc.record({ name: text, ip: text, os: fc.constantFrom('linux', 'windows') })),
    startedAt: text,
    finishedAt: fc.oneof(
      text,
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    requestedBy: fc.record({ kind: fc.constantFrom('cli', 'slack', 'alert', 'watch', 'http'), who: optional(text) }),
    budget: optional(budgetArb),
    ipv6Budget: optional(budgetArb),
    natBudget: optional(natBudgetArb),
    survey: optional(surveyArb),
    culprits: fc.oneof(
      { weight: 5, arbitrary: fc.array(culpritArb, { maxLength: 15 }) },
      { weight: 1, arbitrary: fc.array(culpritArb, { minLength: 250, maxLength: 260 }) },
    ),
    workloads: fc.oneof(
      { weight: 5, arbitrary: fc.array(workloadArb, { maxLength: 8 }) },
      { weight: 1, arbitrary: fc.array(workloadArb, { minLength: 100, maxLength: 120 }) },
    ),
    privateRanges: fc.array(
      fc.record({
        cidr: text,
        source: fc.constantFrom('pods', 'services', 'vnet', 'peered-vnet', 'setting', 'flag'),
        name: optional(text),
      }),
      { maxLength: 5 },
    ),
    steps: fc.array(step, { maxLength: 20 }),
    recommendations: fc.array(recommendation, { maxLength: 70 }),
    podsExamined: fc.nat(),
    unavailable: fc.array(fc.record({ what: text, reason: text }), { maxLength: 30 }),
  });
  const options: fc.Arbitrary<SlackReportOptions> = fc.record({
    historyUrl: optional(fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), text)),
    maxPods: optional(fc.oneof(fc.integer({ min: -5, max: 1000 }), fc.double())),
    request: optional(fc.record({ node: optional(text), captureSeconds: fc.oneof(fc.integer(), fc.double()) })),
  });

  test('arbitrary reports', () => {
    fc.assert(
      fc.property(report, options, (r, o) => {
        const message = renderSlackReport(r, o);
        expectSafe(message);
        for (const b of buttonsOf(message)) expect(Object.keys(b.value as object)).toContain('seconds');
      }),
      { numRuns: 150 },
    );
  });

  test('arbitrary progress', () => {
    const status: fc.Arbitrary<InvestigationStatus> = fc.record({
      step: fc.constantFrom(...STEPS),
      index: fc.integer(),
      of: fc.integer(),
      message: text,
      node: optional(text),
      captureEndsAt: optional(
        fc.oneof(
          text,
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
      ),
      pods: optional(fc.record({ done: fc.integer(), total: fc.integer() })),
      steps: fc.array(step, { maxLength: 20 }),
    });
    fc.assert(
      fc.property(status, fc.date({ noInvalidDate: true }), (s, now) => expectSafe(renderSlackProgress(s, now))),
      { numRuns: 200 },
    );
  });

  test('arbitrary errors', () => {
    fc.assert(fc.property(text, (message) => expectSafe(renderSlackError(message))));
  });
});

describe('the evidence blob', () => {
  test('the footer links the evidence when the report has it', async () => {
    const { report } = await investigateOn(scenarioWith());
    const url = 'https://acct.blob.core.windows.net/snat-doctor-evidence/snat/rg/c/n/2026.json';
    const message = renderSlackReport({ ...report, evidence: { url } });
    expect(JSON.stringify(message.blocks)).toContain(`<${url}|evidence>`);
    expect(checkSlackLimits(message)).toEqual([]);
  });
});

describe('a report that joined another investigation', () => {
  // Issue 14: a request for a node already under investigation runs nothing on it; its message must say whose
  // report to read, not "the investigation did not get that far".
  test('names the investigation it joined and says its report comes to this channel', async () => {
    const { report } = await investigateOn(scenarioWith(), { node: '10.224.0.5' });
    const holder =
      'snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:20260301t120000z-abcdef:most-exhausted';
    const message = renderSlackReport({
      ...report,
      culprits: [],
      workloads: [],
      joined: { instanceId: holder, since: '2026-03-01T12:00:00.000Z' },
    });
    const text = JSON.stringify(message.blocks);
    expect(text).toContain(`Already under investigation by \`${holder}\``);
    expect(text).toContain('Its report is posted in this channel when it finishes');
    expect(text).not.toContain('did not get that far');
    expect(checkSlackLimits(message)).toEqual([]);
  });
});
