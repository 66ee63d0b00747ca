import { describe, expect, test } from '@jest/globals';
import { recommend } from '../../lib/analysis/recommendations.ts';
import { snatBudget } from '../../lib/analysis/snatBudget.ts';
import type { BackendSnat, ClusterFacts, Culprit, Recommendation, SnatBudget } from '../../lib/model.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const AZ = 'az aks update --resource-group rg-payments --name aks-prod';

function facts(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    ref: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'rg-payments', name: 'aks-prod' },
    location: 'westeurope',
    nodeResourceGroup: 'MC_rg-payments_aks-prod_westeurope',
    outboundType: 'loadBalancer',
    outboundIpCount: 1,
    allocatedOutboundPorts: 0,
    idleTimeoutMinutes: 30,
    loadBalancerIds: [],
    disableRunCommand: false,
    aadManaged: false,
    clusterCidrs: [],
    nodeCount: 3,
    ...overrides,
  };
}

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
    pods: [],
  });
  if (!result) throw new Error('no budget');
  return result;
}

function culprit(overrides: Partial<Culprit> = {}): Culprit {
  return {
    rank: 1,
    namespace: 'payments',
    pod: 'checkout-api-7d9f',
    hostNetwork: false,
    publicEstablished: 40,
    publicConnects: 0,
    connectsPerSecond: 0,
    timeWait: 0,
    source: 'node-snapshot',
    topDestinations: [
      { ip: '20.60.1.2', port: 443, connections: 30 },
      { ip: '2603:1030::5', port: 5432, connections: 10 },
    ],
    ...overrides,
  };
}

const CHURNING = culprit({ publicConnects: 900, connectsPerSecond: 30, timeWait: 800 });
const LONG_LIVED = culprit({
  publicEstablished: 900,
  topDestinations: [{ ip: '20.60.1.2', port: 443, connections: 900 }],
});

const kinds = (recommendations: Recommendation[]) => recommendations.map((r) => r.kind);
const commands = (recommendations: Recommendation[]) => recommendations.flatMap((r) => r.commands ?? []);

describe('fix-culprit: the pod comes first', () => {
  test('the title names namespace/pod and its top destinations (IPv6 bracketed)', () => {
    const [first] = recommend({ facts: facts(), culprits: [culprit()], nodeName: NODE });
    expect(first?.kind).toBe('fix-culprit');
    expect(first?.title).toBe(
      'Fix connection handling in payments/checkout-api-7d9f (top destinations: 20.60.1.2:443 ×30, [2603:1030::5]:5432 ×10)',
    );
  });

  test.each([
    ['churn (many connects, TIME_WAIT)', CHURNING, /new connection per request/, /keeps many connections open/],
    ['many long-lived connections', LONG_LIVED, /keeps many connections open/, /new connection per request/],
  ])('advice adapted to %s', (_case, c, says, doesNotSay) => {
    const [first] = recommend({ facts: facts(), culprits: [c], nodeName: NODE });
    expect(first?.detail).toMatch(says);
    expect(first?.detail).not.toMatch(doesNotSay);
  });

  test.each([[CHURNING], [LONG_LIVED], [culprit()]])(
    'every culprit is told about pooling, keep-alive, client reuse and back-off with jitter (%#)',
    (c) => {
      const [first] = recommend({ facts: facts(), culprits: [c], nodeName: NODE });
      expect(first?.detail).toMatch(/pool/);
      expect(first?.detail).toMatch(/keep-?alive/i);
      expect(first?.detail).toMatch(/reuse/);
      expect(first?.detail).toMatch(/back-off and jitter/);
    },
  );

  const advised = (culprits: Culprit[]) =>
    recommend({ facts: facts(), culprits, nodeName: NODE })
      .filter((r) => r.kind === 'fix-culprit')
      .map((r) => r.title.split(' ')[4]);

  test('without a connect trace the churn is said to be unknown, not zero', () => {
    const [traced] = recommend({ facts: facts(), culprits: [culprit()], nodeName: NODE });
    const [untraced] = recommend({ facts: facts(), culprits: [culprit()], nodeName: NODE, traced: false });
    expect(traced?.detail).toMatch(/opened \d+ new one\(s\) during the capture/);
    expect(untraced?.detail).toMatch(/opened an unknown number of new ones \(no connect trace\)/);
    expect(untraced?.detail).not.toMatch(/during the capture/);
  });

  test('at most the top three culprits get advice, in rank order', () => {
    const culprits = ['a', 'b', 'c', 'd'].map((pod, i) => culprit({ pod, rank: i + 1 }));
    expect(advised(culprits)).toEqual(['payments/a', 'payments/b', 'payments/c']);
  });

  test('after the top one, only culprits with a quarter of its connections or connects (a pod with 4 is noise)', () => {
    const culprits = [
      culprit({ pod: 'top', publicEstablished: 900, publicConnects: 600 }),
      culprit({ pod: 'holder', rank: 2, publicEstablished: 225, publicConnects: 0 }),
      culprit({ pod: 'small', rank: 3, publicEstablished: 4, publicConnects: 2 }),
      culprit({ pod: 'churner', rank: 4, publicEstablished: 3, publicConnects: 150 }),
    ];
    expect(advised(culprits)).toEqual(['payments/top', 'payments/holder', 'payments/churner']);
  });

  test('a top culprit with only trace connects does not make every pod with 0 open connections significant', () => {
    const culprits = [
      culprit({ pod: 'cron', publicEstablished: 0, publicConnects: 400 }),
      culprit({ pod: 'quiet', rank: 2, publicEstablished: 0, publicConnects: 3 }),
    ];
    expect(advised(culprits)).toEqual(['payments/cron']);
  });

  test.each([
    [0.89, 'about 89 %'],
    [0.004, 'under 1 %'],
  ])("a share of %d of the node's used ports reads as %s", (shareOfUsedPorts, text) => {
    const [first] = recommend({ facts: facts(), culprits: [culprit({ shareOfUsedPorts })], nodeName: NODE });
    expect(first?.detail).toContain(`(${text} of the node's used SNAT ports)`);
  });
});

describe('capacity: exact az commands from the cluster facts', () => {
  test('3 nodes, 1 IP, default 1,024 ports, 98 % used: double the ports, which one IP still fits for 3 nodes + surge', () => {
    const f = facts();
    const recs = recommend({ facts: f, budget: budget(f), culprits: [LONG_LIVED], nodeName: NODE });
    const capacity = recs.find((r) => r.kind === 'capacity');
    // 2 × 1,024 = 2,048 per node; 3 nodes + 1 surge need 8,192 of the IP's 64,000 ports.
    expect(capacity?.commands).toEqual([`${AZ} --load-balancer-outbound-ports 2048`]);
    expect(capacity?.title).toMatch(/1,000 of 1,024 used \(98 %\)/);
    expect(capacity?.detail).toMatch(/can then grow to 31 nodes/);
  });

  test('60 nodes on 1 IP (default 512): doubling needs a second IP, so the command sets both', () => {
    const f = facts({ nodeCount: 60 });
    const recs = recommend({
      facts: f,
      budget: budget(f, { usedPorts: 500, allocatedPorts: 512 }),
      culprits: [],
      nodeName: NODE,
    });
    // 60 + 6 surge = 66 nodes; doubling 512 → 1,024 needs ⌈66 × 1,024 ÷ 64,000⌉ = 2 IPs.
    expect(recs.find((r) => r.kind === 'capacity')?.commands).toEqual([
      `${AZ} --load-balancer-managed-outbound-ip-count 2 --load-balancer-outbound-ports 1024`,
    ]);
  });

  test('ports already at the most that fits: only more IPs help', () => {
    // 50 nodes + 5 surge = 55: 64,000 ÷ 55 = 1,163.6 → 1,160, already allocated. Doubling to 2,320 needs 2 IPs.
    const f = facts({ nodeCount: 50, allocatedOutboundPorts: 1160 });
    const recs = recommend({
      facts: f,
      budget: budget(f, { usedPorts: 1100, allocatedPorts: 1160 }),
      culprits: [],
      nodeName: NODE,
    });
    expect(recs.find((r) => r.kind === 'capacity')?.commands).toEqual([
      `${AZ} --load-balancer-managed-outbound-ip-count 2 --load-balancer-outbound-ports 2320`,
    ]);
  });

  test('every port number offered is a multiple of 8', () => {
    for (const nodeCount of [1, 2, 3, 7, 13, 49, 60, 99, 150, 333, 777]) {
      const f = facts({ nodeCount });
      const recs = recommend({
        facts: f,
        budget: budget(f, { failedConnections: 1 }),
        culprits: [CHURNING],
        nodeName: NODE,
      });
      for (const command of commands(recs)) {
        const ports = /--load-balancer-outbound-ports (\d+)/.exec(command)?.[1];
        if (ports) expect(Number(ports) % 8).toBe(0);
      }
    }
  });

  test('failed connections alone (low usage) are pressure', () => {
    const f = facts();
    const recs = recommend({
      facts: f,
      budget: budget(f, { usedPorts: 100, allocatedPorts: 1024, failedConnections: 3 }),
      culprits: [],
      nodeName: NODE,
    });
    expect(kinds(recs)).toEqual(['capacity', 'nat-gateway', 'investigate-further']);
  });

  test('churn adds the idle timeout, with its trade-off', () => {
    const f = facts();
    const capacity = recommend({ facts: f, budget: budget(f), culprits: [CHURNING], nodeName: NODE }).find(
      (r) => r.kind === 'capacity',
    );
    expect(capacity?.commands).toContain(`${AZ} --load-balancer-idle-timeout 4`);
    expect(capacity?.detail).toMatch(/keepalives/);
  });

  test('no churn, or an idle timeout already at 4 minutes: no idle-timeout command', () => {
    const f = facts();
    const noChurn = recommend({ facts: f, budget: budget(f), culprits: [LONG_LIVED], nodeName: NODE });
    const low = facts({ idleTimeoutMinutes: 4 });
    const alreadyLow = recommend({ facts: low, budget: budget(low), culprits: [CHURNING], nodeName: NODE });
    expect(commands([...noChurn, ...alreadyLow]).some((c) => c.includes('idle-timeout'))).toBe(false);
  });

  test('doubling would need more than 100 outbound IPs: no IP command, and nothing else to offer → no capacity', () => {
    // 200 nodes + 20 surge on 100 IPs at 32,000 ports: what fits (29,088) is less than now; 64,000 would need 220 IPs.
    const f = facts({ nodeCount: 200, outboundIpCount: 100, allocatedOutboundPorts: 32000 });
    const recs = recommend({
      facts: f,
      budget: budget(f, { usedPorts: 31000, allocatedPorts: 32000 }),
      culprits: [LONG_LIVED],
      nodeName: NODE,
    });
    expect(kinds(recs)).toEqual(['fix-culprit', 'nat-gateway']);
  });

  test.each([
    ['usage below 75 % and no failures', { usedPorts: 700, allocatedPorts: 1024 }],
    ['no allocation known and no failures', { usedPorts: 0, allocatedPorts: 0 }],
  ])('no pressure (%s): the culprit advice only', (_case, metrics) => {
    const f = facts();
    expect(kinds(recommend({ facts: f, budget: budget(f, metrics), culprits: [CHURNING], nodeName: NODE }))).toEqual([
      'fix-culprit',
    ]);
  });

  test('exactly 75 % is pressure', () => {
    const f = facts();
    const recs = recommend({
      facts: f,
      budget: budget(f, { usedPorts: 768, allocatedPorts: 1024 }),
      culprits: [],
      nodeName: NODE,
    });
    expect(kinds(recs)).toContain('capacity');
  });
});

describe('nat-gateway: the longer-term fix', () => {
  test('under pressure on a load balancer cluster: the exact migration command, keeping the IP count', () => {
    const f = facts({ outboundIpCount: 2 });
    const nat = recommend({ facts: f, budget: budget(f), culprits: [LONG_LIVED], nodeName: NODE }).find(
      (r) => r.kind === 'nat-gateway',
    );
    expect(nat?.commands).toEqual([
      `${AZ} --outbound-type managedNATGateway --nat-gateway-managed-outbound-ip-count 2`,
    ]);
    expect(nat?.detail).toMatch(/userAssignedNATGateway/);
    expect(nat?.detail).toMatch(/egress IP addresses/);
  });

  test('a NAT gateway takes at most 16 IPs', () => {
    const f = facts({ outboundIpCount: 40, nodeCount: 400 });
    const nat = recommend({ facts: f, budget: budget(f, { failedConnections: 9 }), culprits: [], nodeName: NODE }).find(
      (r) => r.kind === 'nat-gateway',
    );
    expect(nat?.commands?.[0]).toMatch(/--nat-gateway-managed-outbound-ip-count 16$/);
  });

  test('load balancer metrics unavailable but pods hold public connections: still mentioned', () => {
    expect(kinds(recommend({ facts: facts(), culprits: [LONG_LIVED], nodeName: NODE }))).toEqual([
      'fix-culprit',
      'nat-gateway',
    ]);
  });

  test.each([['managedNATGateway'], ['userAssignedNATGateway'], ['userDefinedRouting']] as const)(
    'outbound type %s: no load balancer advice at all',
    (outboundType) => {
      const f = facts({ outboundType });
      const recs = recommend({
        facts: f,
        budget: budget(f, { failedConnections: 5 }),
        culprits: [CHURNING],
        nodeName: NODE,
      });
      expect(kinds(recs)).toEqual(['fix-culprit']);
    },
  );
});

describe('investigate-further', () => {
  test('no culprits but pressure: where else to look, with the node in the command', () => {
    const f = facts();
    const recs = recommend({ facts: f, budget: budget(f), culprits: [], nodeName: NODE });
    const further = recs.find((r) => r.kind === 'investigate-further');
    expect(further?.title).toBe('No pod holds public connections, yet the node uses 98 % of its SNAT ports');
    expect(further?.commands).toEqual([
      `kubectl get pods --all-namespaces --field-selector spec.nodeName=${NODE} -o wide`,
    ]);
  });

  test('no culprits and no pressure: nothing to recommend', () => {
    const f = facts();
    expect(recommend({ facts: f, budget: budget(f, { usedPorts: 10 }), culprits: [], nodeName: NODE })).toEqual([]);
  });
});

describe('commands are built from validated facts only', () => {
  test.each([
    ['a resource group with shell syntax', { resourceGroup: 'rg;reboot', name: 'aks-prod' }],
    ['a cluster name with a command substitution', { resourceGroup: 'rg', name: '$(id)' }],
  ])('%s: the advice stays, the commands go', (_case, ref) => {
    const f = facts({ ref: { subscriptionId: '00000000-0000-0000-0000-000000000000', ...ref } });
    const recs = recommend({
      facts: f,
      budget: budget(f, { failedConnections: 2 }),
      culprits: [CHURNING],
      nodeName: '$(id)',
    });
    expect(kinds(recs)).toEqual(['fix-culprit', 'nat-gateway']);
    expect(commands(recs)).toEqual([]);
  });

  test('every command is made of plain flag characters', () => {
    const f = facts({ nodeCount: 60 });
    const recs = recommend({
      facts: f,
      budget: budget(f, { failedConnections: 2 }),
      culprits: [CHURNING],
      nodeName: NODE,
    });
    expect(commands(recs).length).toBeGreaterThan(2);
    for (const command of commands(recs))
      expect(command).toMatch(/^(az aks update|kubectl get pods) [A-Za-z0-9_.=\- ]+$/);
  });
});
