// What to do, per significant workload, then capacity, NAT gateway and where to look next. The culprits and workloads
// come from rankCulprits over PodConnections fixtures, so they always agree with the SNAT model.
import { describe, expect, test } from '@jest/globals';
import { rankCulprits } from '../../lib/analysis/rankCulprits.ts';
import { recommend } from '../../lib/analysis/recommendations.ts';
import { snatBudget } from '../../lib/analysis/snatBudget.ts';
import type {
  BackendSnat,
  ClusterFacts,
  FlowCount,
  PodConnections,
  Recommendation,
  SnatBudget,
  Workload,
} from '../../lib/model.ts';
import { clusterFacts } from '../support/facts.ts';
import { hostNetworkTables, podWithFlows, flow as sharedFlow } from '../support/podConnections.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const AZ = 'az aks update --resource-group rg-payments --name aks-prod';
const CAPTURE_SECONDS = 30;

const facts = clusterFacts;

/** The budget snatBudget computes for these facts and metrics (so the test uses real capacity numbers). */
function budget(f: ClusterFacts, metrics: Partial<BackendSnat> = {}): SnatBudget {
  const result = snatBudget({
    facts: f,
    backend: {
      loadBalancerId: 'lb',
      backendIp: '10.224.0.5',
      usedPorts: 1000,
      allocatedPorts: 1024,
      failedConnections: 0,
      successfulConnections: 0,
      ...metrics,
    },
    destinations: [],
  });
  if (!result) throw new Error('no budget');
  return result;
}

function flow(overrides: Partial<FlowCount> = {}): FlowCount {
  return sharedFlow({ ip: '20.60.1.2', ...overrides });
}

function pod(name: string, flows: FlowCount[], overrides: Partial<PodConnections> = {}): PodConnections {
  return podWithFlows(name, flows, overrides, 'payments');
}

const CHECKOUT: Workload = { kind: 'Deployment', name: 'checkout-api' };

/** Three replicas of one Deployment, 300 + 10 open connections each: 930 ports held, no churn. */
const CHECKOUT_PODS = ['x2x9k', 'b7m4p', 'q8w2z'].map((suffix) =>
  pod(`checkout-api-7d9f8b6c5d-${suffix}`, [flow({ open: 300 }), flow({ ip: '2603:1030::5', port: 5432, open: 10 })], {
    workload: CHECKOUT,
  }),
);
/** 900 connects in 30 s (30/s, 7,200 ports over the hold time) and 800 TIME_WAIT, 3 open. */
const CHURNING = [pod('churner', [flow({ open: 3, connects: 900, timeWait: 800 })])];
/** 900 connections held open, no churn. */
const LONG_LIVED = [pod('holder', [flow({ open: 900 })])];
/** 40 open connections: neither churn nor many open. */
const MODEST = [pod('modest', [flow({ open: 30 }), flow({ ip: '2603:1030::5', port: 5432, open: 10 })])];

interface Options {
  facts?: ClusterFacts;
  budget?: SnatBudget;
  traced?: boolean;
  nodeName?: string;
  host?: PodConnections;
}

/** Ranks the pods the way the report does (rankAndReport), then asks for advice. */
function advise(pods: PodConnections[], options: Options = {}): Recommendation[] {
  const { culprits, workloads } = rankCulprits(pods, {
    captureSeconds: CAPTURE_SECONDS,
    nodeName: NODE,
    ...(options.host ? { host: options.host } : {}),
  });
  return recommend({
    facts: options.facts ?? facts(),
    ...(options.budget ? { budget: options.budget } : {}),
    culprits,
    workloads,
    nodeName: options.nodeName ?? NODE,
    ...(options.traced === undefined ? {} : { traced: options.traced }),
  });
}

const kinds = (recommendations: Recommendation[]) => recommendations.map((r) => r.kind);
const commands = (recommendations: Recommendation[]) => recommendations.flatMap((r) => r.commands ?? []);
/** The workloads the fix-culprit advice names, in order. */
const advised = (pods: PodConnections[]) =>
  advise(pods)
    .filter((r) => r.kind === 'fix-culprit')
    .map((r) => /^Fix connection handling in (.+?)(?:; top destinations|$)/.exec(r.title)?.[1] ?? r.title);

describe('fix-culprit: the workload comes first', () => {
  test('the title names the workload, its pods on the node, and its top destinations with their ports (IPv6 bracketed)', () => {
    const [first] = advise(CHECKOUT_PODS);
    expect(first?.kind).toBe('fix-culprit');
    expect(first?.title).toBe(
      'Fix connection handling in Deployment payments/checkout-api (3 pods on this node); top destinations 20.60.1.2:443 (900 ports), [2603:1030::5]:5432 (30 ports)',
    );
    expect(first?.detail).toMatch(
      /^Deployment payments\/checkout-api \(3 pods on this node\) needs about 930 SNAT port\(s\): 930 held by open connections, 0 by churn/,
    );
  });

  test('one replica on the node is named; a pod without a controller is named as a pod', () => {
    expect(advised(CHECKOUT_PODS.slice(0, 1))).toEqual([
      'Deployment payments/checkout-api (pod checkout-api-7d9f8b6c5d-x2x9k)',
    ]);
    expect(advised([pod('debug', [flow({ open: 5 })])])).toEqual(['pod payments/debug']);
  });

  test.each([
    ['churn (many connects, TIME_WAIT)', CHURNING, /new connection per request/, /keeps many connections open/],
    ['many long-lived connections', LONG_LIVED, /keeps many connections open/, /new connection per request/],
    ['a few connections', MODEST, /Use connection pooling/, /new connection per request|keeps many connections open/],
  ])('advice adapted to %s', (_case, pods, says, doesNotSay) => {
    const [first] = advise(pods);
    expect(first?.detail).toMatch(says);
    expect(first?.detail).not.toMatch(doesNotSay);
  });

  test('"many connections open" is per pod: 7 replicas of 30 keep a normal pool each; one pod with 210 does not', () => {
    const replicas = Array.from({ length: 7 }, (_, i) =>
      pod(`gw-7d9f8b6c5d-${i}`, [flow({ open: 30 })], { workload: { kind: 'Deployment', name: 'gw' } }),
    );
    expect(advise(replicas)[0]?.detail).not.toMatch(/keeps many connections open/);
    expect(advise([pod('gw-single', [flow({ open: 210 })])])[0]?.detail).toMatch(/keeps many connections open/);
  });

  test('a churn-only culprit (nothing open, only connects) is told to reuse connections, and named with its destination', () => {
    // 600 connects in 30 s to one IP:port and nothing open: 20/s × 240 s = 4,800 ports, all churn.
    const [first] = advise([pod('poller', [flow({ ip: '52.178.17.3', connects: 600 })], { namespace: 'jobs' })]);
    expect(first?.title).toBe(
      'Fix connection handling in pod jobs/poller; top destinations 52.178.17.3:443 (4,800 ports)',
    );
    expect(first?.detail).toMatch(
      /about 4,800 SNAT port\(s\): 0 held by open connections, 4,800 by churn \(20 new connection\(s\)\/s/,
    );
    expect(first?.detail).toMatch(/new connection per request/);
  });

  test('failed connects are said to be failing already', () => {
    const [first] = advise([pod('retrier', [flow({ open: 5, connects: 300, failed: 40 })])]);
    expect(first?.detail).toMatch(/40 failed connect\(s\)/);
    expect(first?.detail).toMatch(/already failing/);
  });

  test.each([[CHURNING], [LONG_LIVED], [MODEST]])(
    'every workload is told about pooling, keep-alive, client reuse and back-off with jitter (%#)',
    (pods) => {
      const [first] = advise(pods);
      expect(first?.detail).toMatch(/pool/);
      expect(first?.detail).toMatch(/keep-?alive/i);
      expect(first?.detail).toMatch(/reuse/);
      expect(first?.detail).toMatch(/back-off and jitter/);
    },
  );

  test('without a connect trace the churn is said to be unknown, not zero', () => {
    const pods = [pod('closer', [flow({ open: 5, timeWait: 200 })])];
    const [traced] = advise(pods);
    const [untraced] = advise(pods, { traced: false });
    expect(traced?.detail).toMatch(/0 new connection\(s\)\/s and 200 in TIME_WAIT/);
    expect(untraced?.detail).toMatch(/200 in TIME_WAIT; no connect trace, so churn may be higher/);
    expect(untraced?.detail).not.toMatch(/new connection\(s\)\/s/);
  });

  test('a pod with only private TIME_WAIT (in-cluster churn) gets no advice', () => {
    const inCluster = pod('in-cluster', [], { privateTimeWait: 900, privateEstablished: 500 });
    expect(advise([inCluster])).toEqual([]);
    expect(advised([inCluster, ...LONG_LIVED])).toEqual(['pod payments/holder']);
    // Under pressure with nothing public to blame: where else to look, not a pod to fix.
    const f = facts();
    expect(kinds(advise([inCluster], { facts: f, budget: budget(f) }))).toEqual([
      'capacity',
      'nat-gateway',
      'investigate-further',
    ]);
  });

  test('at most the top three workloads get advice, in rank order', () => {
    const pods = ['a', 'b', 'c', 'd'].map((name, i) => pod(name, [flow({ open: 100 - i })]));
    expect(advised(pods)).toEqual(['pod payments/a', 'pod payments/b', 'pod payments/c']);
  });

  test('replicas are advised once, as their workload, not once per pod', () => {
    expect(advised([...CHECKOUT_PODS, ...MODEST])).toEqual(['Deployment payments/checkout-api (3 pods on this node)']);
  });

  test('after the top one, only workloads with a quarter of its pressure (a pod with 4 ports is noise)', () => {
    const pods = [
      pod('top', [flow({ open: 900 })]),
      pod('holder', [flow({ open: 225 })]), // exactly a quarter
      pod('under', [flow({ open: 224 })]),
      pod('small', [flow({ open: 4 })]),
    ];
    expect(advised(pods)).toEqual(['pod payments/top', 'pod payments/holder']);
  });

  test('churn is pressure too: 3 open connections and 1 connect/s (243 ports) weigh next to 900 open', () => {
    const pods = [
      pod('top', [flow({ open: 900 })]),
      pod('churner', [flow({ open: 3, connects: 30 })]),
      pod('small', [flow({ open: 4 })]),
    ];
    expect(advised(pods)).toEqual(['pod payments/top', 'pod payments/churner']);
  });

  test('ports on cold destinations weigh less: 300 ports over ten destinations are not a quarter of 900 on one', () => {
    const spread = pod(
      'spread',
      Array.from({ length: 10 }, (_, i) => flow({ ip: `52.1.1.${i + 1}`, open: 30 })),
    );
    expect(advised([pod('top', [flow({ open: 900 })]), spread])).toEqual(['pod payments/top']);
  });

  test("the workload's share of the node's SNAT pressure is given", () => {
    // 890 and 110 ports on the same destination: 89 % and 11 % of the pressure.
    const [first] = advise([pod('big', [flow({ open: 890 })]), pod('other', [flow({ open: 110 })])]);
    expect(first?.detail).toContain("— about 89 % of the node's SNAT pressure.");
  });

  test('a share under 1 % reads as such', () => {
    const { culprits, workloads } = rankCulprits([pod('big', [flow({ open: 890 })])], { captureSeconds: 30 });
    const [top] = workloads;
    if (!top) throw new Error('no workload');
    const [first] = recommend({
      facts: facts(),
      culprits,
      workloads: [{ ...top, shareOfUsedPorts: 0.004 }],
      nodeName: NODE,
    });
    expect(first?.detail).toContain("— under 1 % of the node's SNAT pressure.");
  });
});

describe("the node's own connections: advice for the node, not for each hostNetwork pod", () => {
  const daemonSets = hostNetworkTables();

  test("tables read through hostNetwork pods: one piece of advice for the node's table, listing the pods", () => {
    const app = pod('app', [flow({ open: 300 })], { namespace: 'web' });
    const recs = advise([...daemonSets, app]).filter((r) => r.kind === 'fix-culprit');
    expect(recs.map((r) => r.title)).toEqual([
      "Look at the node's own connections; top destinations 20.50.2.10:443 (600 ports), 52.1.1.1:443 (3 ports)",
      'Fix connection handling in pod web/app; top destinations 20.60.1.2:443 (300 ports)',
    ]);
    const [host] = recs;
    expect(host?.kind).toBe('fix-culprit');
    expect(host?.detail).toContain(
      "shared by kube-system/azure-cns-y, kube-system/cloud-node-manager-z, kube-system/csi-azuredisk-node-a, kube-system/kube-proxy-x and the node's own processes",
    );
    expect(host?.detail).toMatch(/needs about 603 SNAT port\(s\)/);
    expect(host?.detail).toMatch(/run the investigation again when the probe can run on the node/);
    // No advice is addressed to the DaemonSets themselves: their table is the node's, counted once.
    for (const r of recs) expect(r.title).not.toMatch(/DaemonSet|kube-system/);
  });

  test("the probe's host row (sockets outside any pod): the node's own processes", () => {
    const host = pod('host network', [flow({ ip: '52.1.1.1', open: 400 })], { namespace: '', hostNetwork: true });
    const [first] = advise([pod('app', [flow({ open: 10 })])], { host });
    expect(first?.title).toBe("Look at the node's own connections; top destinations 52.1.1.1:443 (400 ports)");
    expect(first?.detail).toMatch(
      /^Processes on the node outside any pod \(kubelet, containerd, host agents\) need about 400 SNAT port\(s\)/,
    );
    expect(first?.detail).toMatch(/node's own agents/);
  });

  test("without a connect trace the node's churn is said to be unknown too", () => {
    const host = pod('host network', [flow({ ip: '52.1.1.1', open: 5, timeWait: 200 })], {
      namespace: '',
      hostNetwork: true,
    });
    const [first] = advise([], { host, traced: false });
    expect(first?.title).toMatch(/^Look at the node's own connections/);
    expect(first?.detail).toMatch(/200 in TIME_WAIT; no connect trace, so churn may be higher/);
    expect(first?.detail).not.toMatch(/new connection\(s\)\/s/);
  });
});

describe('capacity: exact az commands from the cluster facts', () => {
  test('3 nodes, 1 IP, default 1,024 ports, 98 % used: double the ports, which one IP still fits for 3 nodes + surge', () => {
    const f = facts();
    const recs = advise(LONG_LIVED, { facts: f, budget: budget(f) });
    const capacity = recs.find((r) => r.kind === 'capacity');
    // 2 × 1,024 = 2,048 per node; 3 nodes + 1 surge need 8,192 of the IP's 64,000 ports.
    expect(capacity?.commands).toEqual([`${AZ} --load-balancer-outbound-ports 2048`]);
    expect(capacity?.title).toMatch(/1,000 of 1,024 used \(98 %\)/);
    expect(capacity?.detail).toMatch(/can then grow to 31 nodes/);
  });

  test('a single-node pool is "a pool of 1 node", not "1 nodes"', () => {
    const f = facts({ nodeCount: 1 });
    const capacity = advise(LONG_LIVED, { facts: f, budget: budget(f) }).find((r) => r.kind === 'capacity');
    expect(capacity?.detail).toContain("(Azure's default for a pool of 1 node)");
    expect(capacity?.detail).toContain('fits the 1 node plus 1 for upgrade surge');
    expect(capacity?.detail).not.toMatch(/\b1 nodes\b/);
    // 64,000 ÷ 1,024: the plural where it is one.
    expect(capacity?.detail).toContain('enough for 62 nodes at that allocation');
  });

  test('60 nodes on 1 IP (default 512): doubling needs a second IP, so the command sets both', () => {
    const f = facts({ nodeCount: 60 });
    const recs = advise([], {
      facts: f,
      budget: budget(f, { usedPorts: 500, allocatedPorts: 512 }),
    });
    // 60 + 6 surge = 66 nodes; doubling 512 → 1,024 needs ⌈66 × 1,024 ÷ 64,000⌉ = 2 IPs.
    expect(recs.find((r) => r.kind === 'capacity')?.commands).toEqual([
      `${AZ} --load-balancer-managed-outbound-ip-count 2 --load-balancer-outbound-ports 1024`,
    ]);
  });

  test('ports already at the most that fits: only more IPs help', () => {
    // 50 nodes + 5 surge = 55: 64,000 ÷ 55 = 1,163.6 → 1,160, already allocated. Doubling to 2,320 needs 2 IPs.
    const f = facts({ nodeCount: 50, allocatedOutboundPorts: 1160 });
    const recs = advise([], {
      facts: f,
      budget: budget(f, { usedPorts: 1100, allocatedPorts: 1160 }),
    });
    expect(recs.find((r) => r.kind === 'capacity')?.commands).toEqual([
      `${AZ} --load-balancer-managed-outbound-ip-count 2 --load-balancer-outbound-ports 2320`,
    ]);
  });

  test('every port number offered is a multiple of 8', () => {
    for (const nodeCount of [1, 2, 3, 7, 13, 49, 60, 99, 150, 333, 777]) {
      const f = facts({ nodeCount });
      const recs = advise(CHURNING, {
        facts: f,
        budget: budget(f, { failedConnections: 1 }),
      });
      for (const command of commands(recs)) {
        const ports = /--load-balancer-outbound-ports (\d+)/.exec(command)?.[1];
        if (ports) expect(Number(ports) % 8).toBe(0);
      }
    }
  });

  test('failed connections alone (low usage) are pressure', () => {
    const f = facts();
    const recs = advise([], {
      facts: f,
      budget: budget(f, { usedPorts: 100, allocatedPorts: 1024, failedConnections: 3 }),
    });
    expect(kinds(recs)).toEqual(['capacity', 'nat-gateway', 'investigate-further']);
  });

  test('churn adds the idle timeout, with its trade-off', () => {
    const f = facts();
    const capacity = advise(CHURNING, { facts: f, budget: budget(f) }).find((r) => r.kind === 'capacity');
    expect(capacity?.commands).toContain(`${AZ} --load-balancer-idle-timeout 4`);
    expect(capacity?.detail).toMatch(/keepalives/);
  });

  test('no churn, or an idle timeout already at 4 minutes: no idle-timeout command', () => {
    const f = facts();
    const noChurn = advise(LONG_LIVED, { facts: f, budget: budget(f) });
    const low = facts({ idleTimeoutMinutes: 4 });
    const alreadyLow = advise(CHURNING, { facts: low, budget: budget(low) });
    expect(commands([...noChurn, ...alreadyLow]).some((c) => c.includes('idle-timeout'))).toBe(false);
  });

  test('doubling would need more than 100 outbound IPs: no IP command, and nothing else to offer → no capacity', () => {
    // 200 nodes + 20 surge on 100 IPs at 32,000 ports: what fits (29,088) is less than now; 64,000 would need 220 IPs.
    const f = facts({ nodeCount: 200, outboundIpCount: 100, allocatedOutboundPorts: 32000 });
    const recs = advise(LONG_LIVED, {
      facts: f,
      budget: budget(f, { usedPorts: 31000, allocatedPorts: 32000 }),
    });
    expect(kinds(recs)).toEqual(['fix-culprit', 'nat-gateway']);
  });

  test.each([
    ['usage below 75 % and no failures', { usedPorts: 700, allocatedPorts: 1024 }],
    ['no allocation known and no failures', { usedPorts: 0, allocatedPorts: 0 }],
  ])('no pressure (%s): the culprit advice only', (_case, metrics) => {
    const f = facts();
    expect(kinds(advise(CHURNING, { facts: f, budget: budget(f, metrics) }))).toEqual(['fix-culprit']);
  });

  test('exactly 75 % is pressure', () => {
    const f = facts();
    const recs = advise([], {
      facts: f,
      budget: budget(f, { usedPorts: 768, allocatedPorts: 1024 }),
    });
    expect(kinds(recs)).toContain('capacity');
  });
});

describe('nat-gateway: the longer-term fix', () => {
  test('under pressure on a load balancer cluster: the exact migration command, keeping the IP count', () => {
    const f = facts({ outboundIpCount: 2 });
    const nat = advise(LONG_LIVED, { facts: f, budget: budget(f) }).find((r) => r.kind === 'nat-gateway');
    expect(nat?.commands).toEqual([
      `${AZ} --outbound-type managedNATGateway --nat-gateway-managed-outbound-ip-count 2`,
    ]);
    expect(nat?.detail).toMatch(/userAssignedNATGateway/);
    expect(nat?.detail).toMatch(/egress IP addresses/);
  });

  test('a NAT gateway takes at most 16 IPs', () => {
    const f = facts({ outboundIpCount: 40, nodeCount: 400 });
    const nat = advise([], { facts: f, budget: budget(f, { failedConnections: 9 }) }).find(
      (r) => r.kind === 'nat-gateway',
    );
    expect(nat?.commands?.[0]).toMatch(/--nat-gateway-managed-outbound-ip-count 16$/);
  });

  test('load balancer metrics unavailable but pods hold public connections: still mentioned', () => {
    expect(kinds(advise(LONG_LIVED))).toEqual(['fix-culprit', 'nat-gateway']);
  });

  test.each([
    ['managedNATGateway', ['fix-culprit', 'nat-gateway']],
    ['userAssignedNATGateway', ['fix-culprit', 'nat-gateway']],
    ['userDefinedRouting', ['fix-culprit']],
  ] as const)(
    'outbound type %s: no load balancer advice at all (a NAT gateway gets its own limits)',
    (outboundType, expected) => {
      const f = facts({ outboundType });
      const recs = advise(CHURNING, {
        facts: f,
        budget: budget(f, { failedConnections: 5 }),
      });
      expect(kinds(recs)).toEqual(expected);
      expect(commands(recs).some((c) => c.includes('--load-balancer'))).toBe(false);
    },
  );
});

describe('investigate-further', () => {
  test('no culprits but pressure: where else to look, with the node in the command', () => {
    const f = facts();
    const recs = advise([], { facts: f, budget: budget(f) });
    const further = recs.find((r) => r.kind === 'investigate-further');
    expect(further?.title).toBe('No pod holds public connections, yet the node uses 98 % of its SNAT ports');
    expect(further?.commands).toEqual([
      `kubectl get pods --all-namespaces --field-selector spec.nodeName=${NODE} -o wide`,
    ]);
  });

  test('no culprits and no pressure: nothing to recommend', () => {
    const f = facts();
    expect(advise([], { facts: f, budget: budget(f, { usedPorts: 10 }) })).toEqual([]);
  });
});

describe('commands are built from validated facts only', () => {
  test.each([
    ['a resource group with shell syntax', { resourceGroup: 'rg;reboot', name: 'aks-prod' }],
    ['a cluster name with a command substitution', { resourceGroup: 'rg', name: '$(id)' }],
  ])('%s: the advice stays, the commands go', (_case, ref) => {
    const f = facts({ ref: { subscriptionId: '00000000-0000-0000-0000-000000000000', ...ref } });
    const recs = advise(CHURNING, {
      facts: f,
      budget: budget(f, { failedConnections: 2 }),
      nodeName: '$(id)',
    });
    expect(kinds(recs)).toEqual(['fix-culprit', 'nat-gateway']);
    expect(commands(recs)).toEqual([]);
  });

  test('every command is made of plain flag characters', () => {
    const f = facts({ nodeCount: 60 });
    const recs = advise(CHURNING, {
      facts: f,
      budget: budget(f, { failedConnections: 2 }),
    });
    expect(commands(recs).length).toBeGreaterThan(2);
    for (const command of commands(recs))
      expect(command).toMatch(/^(az aks update|kubectl get pods) [A-Za-z0-9_.=\- ]+$/);
  });
});

describe('NAT gateway clusters (issue 15): the per-destination cap, the timers, and what cannot be seen', () => {
  const nat = (over: Partial<ClusterFacts> = {}) =>
    facts({
      outboundType: 'managedNATGateway',
      outboundIpCount: 2,
      idleTimeoutMinutes: 4,
      loadBalancerIds: [],
      ...over,
    });

  test("this node's busiest destination against 50,000 connections per public IP to one destination endpoint", () => {
    const [, advice] = advise(LONG_LIVED, { facts: nat() });
    expect(advice?.kind).toBe('nat-gateway');
    expect(advice?.title).toBe(
      'NAT gateway: 900 connection(s) from this node to 20.60.1.2:443, of 100,000 allowed to one destination',
    );
    expect(advice?.detail).toContain('Every node behind the gateway shares that cap');
    expect(advice?.detail).toContain('no per-node SNAT metric');
    expect(advice?.detail).toContain('held 65 s after FIN and 16 s after RST');
    // A managed gateway: more IPs, up to 16.
    expect(advice?.commands).toEqual([
      'az aks update --resource-group rg-payments --name aks-prod --nat-gateway-managed-outbound-ip-count 4',
    ]);
  });

  test('an idle timeout above 4 minutes gets the command back to the default; a user-assigned gateway gets no az aks command', () => {
    expect(commands(advise(LONG_LIVED, { facts: nat({ idleTimeoutMinutes: 30 }) }))).toContain(
      'az aks update --resource-group rg-payments --name aks-prod --nat-gateway-idle-timeout 4',
    );
    const own = advise(LONG_LIVED, { facts: nat({ outboundType: 'userAssignedNATGateway' }) }).find(
      (r) => r.kind === 'nat-gateway',
    );
    expect(own?.commands).toBeUndefined();
    expect(own?.detail).toContain('add public IPs or a prefix to it');
  });

  test("the culprit's advice names the gateway's timeouts, not the load balancer's: TCP's as set, UDP's a fixed 4 minutes", () => {
    const [tcp] = advise(LONG_LIVED, { facts: nat({ idleTimeoutMinutes: 30 }) });
    expect(tcp?.detail).toContain("close idle connections before the NAT gateway's 30-minute idle timeout");
    expect(tcp?.detail).not.toContain('load balancer');
    const dns = [pod('resolver', [flow({ ip: '8.8.8.8', port: 53, protocol: 'udp', open: 900 })])];
    const [udp] = advise(dns, { facts: nat({ idleTimeoutMinutes: 30 }) });
    expect(udp?.detail).toContain('its UDP idle timeout is 4 minutes and cannot be changed');
    expect(udp?.detail).not.toContain('load balancer');
    // The same pods behind a load balancer: its idle timeout.
    expect(advise(dns)[0]?.detail).toContain('which the load balancer gives one port per destination IP');
  });

  test('no move-to-NAT-gateway advice on a cluster already behind one, and none without pods to rank', () => {
    expect(advise(LONG_LIVED, { facts: nat() }).filter((r) => r.title.startsWith('Longer term'))).toEqual([]);
    expect(kinds(advise([], { facts: nat() }))).toEqual([]);
  });
});
