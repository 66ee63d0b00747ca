// crictl pods / ps / inspectp: the research's samples (cri-tools docs, the MS article, tables built with crictl's
// tabwriter settings), JSON built on the documented proto shapes, the join into the model's sandboxes, and properties
// over generated and damaged input. There is no crictl on this machine, so everything here is a fixture.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  type CrictlContainer,
  type CrictlPod,
  type InspectedSandbox,
  netnsInodeIndex,
  parseCrictlInspectp,
  parseCrictlPods,
  parseCrictlPs,
  sameSandboxId,
  toSandboxEntries,
} from '../../lib/evidence/crictl.ts';
import type { LineStats } from '../../lib/evidence/lineStats.ts';
import { parseLsns } from '../../lib/evidence/lsns.ts';
import type { SandboxEntry } from '../../lib/model.ts';

// ------------------------------------------------------------------------------------ research fixtures (verbatim)

// §4.1 [BUILT] with crictl's own tabwriter settings: the current header, CREATED with spaces.
const PS_TABLE = `CONTAINER           IMAGE               CREATED              STATE               NAME                ATTEMPT             POD ID              POD                 NAMESPACE
8b2f0c6a9d4e1       4f5e6d7c8b9a0       About a minute ago   Running             web-server          0                   bb3b311a34072       web-with-logger     develop
1c2d3e4f5a6b7       0a9b8c7d6e5f4       2 hours ago          Exited              log-reader          3                   bb3b311a34072       web-with-logger     develop
`;

// §4.1, the MS article (redacted, narrower padding, no NAMESPACE column).
const MS_PS_TABLE = `CONTAINER   IMAGE     CREATED      STATE     NAME    ATTEMPT    POD ID        POD
6b5xxxxb    fbxxxxx1  6 hours ago  Running   ubuntu  0          2xxxxxxxxf    nginx
`;

// §4.2, cri-tools docs (older, no RUNTIME column).
const DOCS_PODS_TABLE = `POD ID              CREATED             STATE               NAME                NAMESPACE           ATTEMPT
f84dd361f8dc5       17 seconds ago      Ready               nginx-sandbox       default             1
`;

// §4.2 [BUILT], the current header.
const PODS_TABLE = `POD ID              CREATED             STATE               NAME                       NAMESPACE           ATTEMPT             RUNTIME
bb3b311a34072       3 days ago          Ready               web-with-logger            develop             0                   (default)
`;

// ------------------------------------------------------------------------- fixtures built on the documented shapes

const WEB_SANDBOX = 'bb3b311a34072532d5d8ca35d9c847bde1e67dcec899ebb61db8b0ad3d70d576';
const WEB_UID = 'f07700a5-b996-4b1a-a3af-5f99ecb29549';
const WEB_NETNS = '/var/run/netns/cni-d47bdb8a-6641-6cd2-d33e-55eb78bc2407';
const PROXY_SANDBOX = '5c1e9a0b7d3f44e2a8b6c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1';
const PROXY_UID = '2b7c4d1e-0f3a-4b5c-8d9e-1a2b3c4d5e6f';
const OLD_SANDBOX = '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d';

const podLabels = (namespace: string, name: string, uid: string, extra: Record<string, string> = {}) => ({
  'io.kubernetes.pod.name': name,
  'io.kubernetes.pod.namespace': namespace,
  'io.kubernetes.pod.uid': uid,
  ...extra,
});

/** `crictl pods -o json` (§4.3): a pod, a hostNetwork DaemonSet pod, and an old NotReady attempt of the first. */
const PODS_JSON = JSON.stringify(
  {
    items: [
      {
        id: WEB_SANDBOX,
        metadata: { name: 'web-with-logger', uid: WEB_UID, namespace: 'develop', attempt: 0 },
        state: 'SANDBOX_READY',
        createdAt: '1752029347541559341',
        labels: podLabels('develop', 'web-with-logger', WEB_UID, { app: 'web' }),
        annotations: { 'kubernetes.io/config.seen': '2025-07-09T02:49:07.128Z' },
        runtimeHandler: '',
      },
      {
        id: PROXY_SANDBOX,
        metadata: { name: 'kube-proxy-x7k2p', uid: PROXY_UID, namespace: 'kube-system', attempt: 1 },
        state: 'SANDBOX_READY',
        createdAt: '1751900000000000000',
        labels: podLabels('kube-system', 'kube-proxy-x7k2p', PROXY_UID, { 'k8s-app': 'kube-proxy' }),
        annotations: {},
        runtimeHandler: '',
      },
      {
        id: OLD_SANDBOX,
        metadata: { name: 'web-with-logger', uid: WEB_UID, namespace: 'develop', attempt: 0 },
        state: 'SANDBOX_NOTREADY',
        createdAt: '1751990000000000000',
        labels: podLabels('develop', 'web-with-logger', WEB_UID),
        annotations: {},
        runtimeHandler: '',
      },
    ],
  },
  null,
  2,
);

// `crictl ps -o json` (§4.3), as protojson writes it: two-space indent and, now and then, a random extra space after
// the colon.
const PS_JSON = `{
  "containers": [
    {
      "id":  "8b2f0c6a9d4e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2",
      "podSandboxId":  "${WEB_SANDBOX}",
      "metadata":  {
        "name":  "web-server",
        "attempt":  0
      },
      "image":  {
        "image":  "sha256:4f5e6d7c8b9a0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
        "annotations":  {},
        "userSpecifiedImage":  "",
        "runtimeHandler":  ""
      },
      "imageRef":  "sha256:4f5e6d7c8b9a0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
      "state":  "CONTAINER_RUNNING",
      "createdAt":  "1752029347541559341",
      "labels":  {
        "io.kubernetes.container.name":  "web-server",
        "io.kubernetes.pod.name":  "web-with-logger",
        "io.kubernetes.pod.namespace":  "develop",
        "io.kubernetes.pod.uid":  "${WEB_UID}"
      },
      "annotations":  {
        "io.kubernetes.container.hash":  "6a4f2c1b",
        "io.kubernetes.container.restartCount":  "0"
      },
      "imageId":  ""
    },
    {
      "id":  "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
      "podSandboxId":  "${WEB_SANDBOX}",
      "metadata":  {
        "name":  "log-reader",
        "attempt":  3
      },
      "image":  {
        "image":  "sha256:0a9b8c7d6e5f40a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182",
        "annotations":  {},
        "userSpecifiedImage":  "",
        "runtimeHandler":  ""
      },
      "imageRef":  "sha256:0a9b8c7d6e5f40a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182",
      "state":  "CONTAINER_EXITED",
      "createdAt":  "1752022147541559341",
      "labels":  {
        "io.kubernetes.container.name":  "log-reader",
        "io.kubernetes.pod.name":  "web-with-logger",
        "io.kubernetes.pod.namespace":  "develop",
        "io.kubernetes.pod.uid":  "${WEB_UID}"
      },
      "annotations":  {},
      "imageId":  ""
    }
  ]
}
`;

interface InspectOptions {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  pid: number;
  ip: string;
  /** Absent for a hostNetwork sandbox. */
  netnsPath?: string;
  state?: string;
}

/** `crictl inspectp` (§4.4): the real AKS capture's shape (Azure CNI, containerd 1.7), its elisions filled in. */
function inspectDocument(options: InspectOptions, order: 'info-first' | 'status-first' = 'info-first') {
  const { id, namespace, name, uid, pid, ip, netnsPath, state = 'SANDBOX_READY' } = options;
  const hostNetwork = netnsPath === undefined;
  const info = {
    cniResult: hostNetwork
      ? null
      : {
          Interfaces: {
            eth0: { IPConfigs: [{ Gateway: '169.254.1.1', IP: ip }], Mac: '', Sandbox: '' },
            lo: { IPConfigs: null, Mac: '00:00:00:00:00:00', Sandbox: netnsPath },
          },
          DNS: [{}, {}],
          Routes: null,
        },
    config: { metadata: { name, uid, namespace, attempt: 0 } },
    image: 'mcr.microsoft.com/oss/kubernetes/pause:3.6',
    netNamespaceClosed: false,
    pid,
    processStatus: 'running',
    runtimeHandler: '',
    runtimeOptions: { binary_name: '/usr/bin/runc', systemd_cgroup: true },
    runtimeSpec: {
      annotations: {
        'io.kubernetes.cri.container-type': 'sandbox',
        'io.kubernetes.cri.sandbox-id': id,
        'io.kubernetes.cri.sandbox-name': name,
        'io.kubernetes.cri.sandbox-namespace': namespace,
        'io.kubernetes.cri.sandbox-uid': uid,
      },
      linux: {
        cgroupsPath: `kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice:cri-containerd:${id}`,
        namespaces: [
          { type: 'pid' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
          ...(hostNetwork ? [] : [{ path: netnsPath, type: 'network' }]),
        ],
      },
      ociVersion: '1.1.0',
      process: { args: ['/pause'], cwd: '/' },
    },
    runtimeType: 'io.containerd.runc.v2',
    snapshotKey: id,
    snapshotter: 'overlayfs',
  };
  const status = {
    annotations: { 'kubernetes.io/config.source': 'api' },
    createdAt: '2025-07-09T02:49:07.541559341Z',
    id,
    labels: podLabels(namespace, name, uid),
    linux: {
      namespaces: {
        options: { ipc: 'POD', network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', targetId: '' },
      },
    },
    metadata: { attempt: 0, name, namespace, uid },
    network: { additionalIps: [], ip: hostNetwork ? '' : ip },
    runtimeHandler: '',
    state,
  };
  return order === 'info-first' ? { info, status } : { status, info };
}

const WEB: InspectOptions = {
  id: WEB_SANDBOX,
  namespace: 'develop',
  name: 'web-with-logger',
  uid: WEB_UID,
  pid: 14156,
  ip: '10.244.0.153',
  netnsPath: WEB_NETNS,
};
const PROXY: InspectOptions = {
  id: PROXY_SANDBOX,
  namespace: 'kube-system',
  name: 'kube-proxy-x7k2p',
  uid: PROXY_UID,
  pid: 812,
  ip: '10.224.0.4',
};

const INSPECT_WEB = JSON.stringify(inspectDocument(WEB), null, 2);
const INSPECT_PROXY = JSON.stringify(inspectDocument(PROXY), null, 2);

const WEB_INSPECTED: InspectedSandbox = {
  id: WEB_SANDBOX,
  namespace: 'develop',
  name: 'web-with-logger',
  uid: WEB_UID,
  hostNetwork: false,
  ip: '10.244.0.153',
  pid: 14156,
  netnsPath: WEB_NETNS,
  ready: true,
};
const PROXY_INSPECTED: InspectedSandbox = {
  id: PROXY_SANDBOX,
  namespace: 'kube-system',
  name: 'kube-proxy-x7k2p',
  uid: PROXY_UID,
  hostNetwork: true,
  pid: 812,
  ready: true,
};

/** Renders rows the way crictl's tabwriter does: minwidth 20, padding 3, the last cell unpadded. */
function tabwriter(rows: string[][]): string {
  const widths = rows[0]!.map((_, k) => Math.max(20, ...rows.map((row) => (row[k] ?? '').length + 3)));
  return rows
    .map((row) => row.map((cell, k) => (k === row.length - 1 ? cell : cell.padEnd(widths[k]!))).join(''))
    .map((line) => `${line}\n`)
    .join('');
}

// --------------------------------------------------------------------------------------------------- crictl pods

describe('parseCrictlPods', () => {
  test.each<[string, string, CrictlPod[]]>([
    [
      'the current table (RUNTIME "(default)" is left out)',
      PODS_TABLE,
      [
        {
          id: 'bb3b311a34072',
          name: 'web-with-logger',
          namespace: 'develop',
          state: 'ready',
          attempt: 0,
          created: '3 days ago',
        },
      ],
    ],
    [
      'the docs table without RUNTIME',
      DOCS_PODS_TABLE,
      [
        {
          id: 'f84dd361f8dc5',
          name: 'nginx-sandbox',
          namespace: 'default',
          state: 'ready',
          attempt: 1,
          created: '17 seconds ago',
        },
      ],
    ],
    [
      'a built table: "About an hour ago", NotReady, a runtime handler, a full id (--no-trunc)',
      tabwriter([
        ['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME'],
        [OLD_SANDBOX, 'About an hour ago', 'NotReady', 'web-with-logger', 'develop', '0', 'kata'],
      ]),
      [
        {
          id: OLD_SANDBOX,
          name: 'web-with-logger',
          namespace: 'develop',
          state: 'notready',
          attempt: 0,
          runtimeHandler: 'kata',
          created: 'About an hour ago',
        },
      ],
    ],
  ])('%s', (_scenario, text, expected) => {
    const result = parseCrictlPods(text);
    expect(result.sandboxes).toEqual(expected);
    expect(result).toMatchObject({ skipped: 0, lines: text.trimEnd().split('\n').length });
    expect(result.error).toBeUndefined();
  });

  test('-o json: full ids, uids and labels; states normalised', () => {
    const result = parseCrictlPods(PODS_JSON);
    expect(result.skipped).toBe(0);
    expect(result.sandboxes.map((pod) => [pod.id, pod.namespace, pod.name, pod.uid, pod.state, pod.attempt])).toEqual([
      [WEB_SANDBOX, 'develop', 'web-with-logger', WEB_UID, 'ready', 0],
      [PROXY_SANDBOX, 'kube-system', 'kube-proxy-x7k2p', PROXY_UID, 'ready', 1],
      [OLD_SANDBOX, 'develop', 'web-with-logger', WEB_UID, 'notready', 0],
    ]);
    expect(result.sandboxes[0]).toMatchObject({ created: '1752029347541559341', labels: { app: 'web' } });
    expect(result.sandboxes[0]).not.toHaveProperty('runtimeHandler');
  });

  test('crictl’s deprecation warning merged from stderr is a banner, not a skipped line', () => {
    const warning =
      'WARN[0000] runtime connect using default endpoints: [unix:///run/containerd/containerd.sock unix:///run/crio/crio.sock unix:///var/run/cri-dockerd.sock]. As the default settings are now deprecated, you should set the endpoint instead.';
    const piped = 'time="2025-07-09T02:50:00Z" level=warning msg="image connect using default endpoints"';
    expect(parseCrictlPods(`${warning}\n${PODS_TABLE}`)).toMatchObject({
      skipped: 0,
      sandboxes: [{ id: 'bb3b311a34072' }],
    });
    expect(parseCrictlPods(`${piped}\n${PODS_JSON}`)).toMatchObject({ skipped: 0 });
  });

  test('a JSON entry without id, name or namespace is skipped with its JSON as the sample', () => {
    const text = JSON.stringify({ items: [{ id: 'abc', metadata: { name: 'x' } }, JSON.parse(PODS_JSON).items[0]] });
    const result = parseCrictlPods(text);
    expect(result.sandboxes).toHaveLength(1);
    expect(result).toMatchObject({ skipped: 1, skippedSamples: ['{"id":"abc","metadata":{"name":"x"}}'] });
  });

  test('JSON cut short counts all its lines as skipped, and says so', () => {
    const text = PODS_JSON.slice(0, 300);
    const result = parseCrictlPods(text);
    expect(result.sandboxes).toEqual([]);
    expect(result.skipped).toBe(text.split('\n').filter((line) => line.trim() !== '').length);
    expect(result.error).toMatch(/^JSON does not parse/);
  });

  test('JSON without "items" is unusable, and says so', () => {
    expect(parseCrictlPods('{"containers": []}')).toMatchObject({ skipped: 1, error: 'JSON has no "items" list' });
  });

  test('a table without its header skips every line, and says so', () => {
    const result = parseCrictlPods(PODS_TABLE.split('\n').slice(1).join('\n'));
    expect(result).toMatchObject({ sandboxes: [], skipped: 1 });
    expect(result.error).toMatch(/^no header line/);
  });

  test('a row out of line with the header, or missing its NAMESPACE, is skipped', () => {
    const text = `${PODS_TABLE}bb3b311a34072xx    3 days ago          Ready               web                        develop             0\nf84dd361f8dc5       17 seconds ago      Ready               nginx\n`;
    expect(parseCrictlPods(text)).toMatchObject({ lines: 4, skipped: 2, sandboxes: [{ id: 'bb3b311a34072' }] });
  });
});

// ----------------------------------------------------------------------------------------------------- crictl ps

describe('parseCrictlPs', () => {
  const webServer = {
    name: 'web-server',
    state: 'running',
    attempt: 0,
    podName: 'web-with-logger',
    podNamespace: 'develop',
  } as const;
  const logReader = { ...webServer, name: 'log-reader', state: 'exited', attempt: 3 } as const;

  test.each<[string, string, CrictlContainer[]]>([
    [
      'the current table, -a (an Exited container)',
      PS_TABLE,
      [
        {
          ...webServer,
          id: '8b2f0c6a9d4e1',
          podSandboxId: 'bb3b311a34072',
          image: '4f5e6d7c8b9a0',
          created: 'About a minute ago',
        },
        {
          ...logReader,
          id: '1c2d3e4f5a6b7',
          podSandboxId: 'bb3b311a34072',
          image: '0a9b8c7d6e5f4',
          created: '2 hours ago',
        },
      ],
    ],
    [
      'the MS article table (no NAMESPACE column)',
      MS_PS_TABLE,
      [
        {
          id: '6b5xxxxb',
          image: 'fbxxxxx1',
          created: '6 hours ago',
          state: 'running',
          name: 'ubuntu',
          attempt: 0,
          podSandboxId: '2xxxxxxxxf',
          podName: 'nginx',
        },
      ],
    ],
    [
      'the v1.19–1.23 header (CONTAINER ID, no POD column)',
      tabwriter([
        ['CONTAINER ID', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID'],
        ['8b2f0c6a9d4e1', '4f5e6d7c8b9a0', 'About an hour ago', 'Running', 'web-server', '0', 'bb3b311a34072'],
      ]),
      [
        {
          id: '8b2f0c6a9d4e1',
          image: '4f5e6d7c8b9a0',
          created: 'About an hour ago',
          state: 'running',
          name: 'web-server',
          attempt: 0,
          podSandboxId: 'bb3b311a34072',
        },
      ],
    ],
  ])('%s', (_scenario, text, expected) => {
    const result = parseCrictlPs(text);
    expect(result.containers).toEqual(expected);
    expect(result.skipped).toBe(0);
  });

  test('-o json (with protojson’s extra spaces): full ids, the pod from the labels', () => {
    const result = parseCrictlPs(PS_JSON);
    expect(result.skipped).toBe(0);
    expect(result.containers).toEqual([
      expect.objectContaining({ ...webServer, podSandboxId: WEB_SANDBOX, podUid: WEB_UID }),
      expect.objectContaining({ ...logReader, podSandboxId: WEB_SANDBOX, podUid: WEB_UID }),
    ]);
    expect(result.containers[0]?.image).toMatch(/^sha256:4f5e6d7c8b9a0/);
  });

  test('a table id always joins its JSON id', () => {
    const table = parseCrictlPs(PS_TABLE).containers;
    const json = parseCrictlPs(PS_JSON).containers;
    expect(table.map((c) => c.podSandboxId).every((id, i) => sameSandboxId(id, json[i]!.podSandboxId))).toBe(true);
    expect(table.map((c) => c.id).every((id, i) => sameSandboxId(id, json[i]!.id))).toBe(true);
  });
});

// ----------------------------------------------------------------------------------------------- crictl inspectp

describe('parseCrictlInspectp', () => {
  test.each<[string, string, InspectedSandbox[]]>([
    ['a pod sandbox (info first, as newer crictl sorts keys)', INSPECT_WEB, [WEB_INSPECTED]],
    ['status first (older crictl)', JSON.stringify(inspectDocument(WEB, 'status-first'), null, 2), [WEB_INSPECTED]],
    ['a hostNetwork sandbox: network NODE, no netns path, no IP', INSPECT_PROXY, [PROXY_INSPECTED]],
    [
      'several ids, as newer crictl prints them: an array',
      JSON.stringify([inspectDocument(WEB), inspectDocument(PROXY)], null, 2),
      [WEB_INSPECTED, PROXY_INSPECTED],
    ],
    [
      'several ids, as older crictl prints them: documents one after another',
      `${INSPECT_WEB}\n${INSPECT_PROXY}\n`,
      [WEB_INSPECTED, PROXY_INSPECTED],
    ],
  ])('%s', (_scenario, text, expected) => {
    const result = parseCrictlInspectp(text);
    expect(result.sandboxes).toEqual(expected);
    expect(result.sandbox).toEqual(expected[0]);
    expect(result.skipped).toBe(0);
    expect(result.error).toBeUndefined();
  });

  test('containerd 2.x: the netns path from sandboxMetadata when the runtime spec has none', () => {
    const document = inspectDocument(WEB);
    const info = {
      pid: 14156,
      sandboxMetadata: { Version: 'v1', Metadata: { ID: WEB_SANDBOX, NetNSPath: WEB_NETNS, IP: '10.244.0.153' } },
    };
    const result = parseCrictlInspectp(JSON.stringify({ info, status: document.status }));
    expect(result.sandbox).toEqual(WEB_INSPECTED);
  });

  test('without status.linux, a runtime spec without a network namespace means hostNetwork', () => {
    const { info, status } = inspectDocument(PROXY);
    const { linux: _linux, ...statusWithoutLinux } = status;
    expect(parseCrictlInspectp(JSON.stringify({ info, status: statusWithoutLinux })).sandbox?.hostNetwork).toBe(true);
  });

  test('a stopped sandbox: pid 0 is no pid, and it is not ready', () => {
    const document = inspectDocument({ ...WEB, state: 'SANDBOX_NOTREADY' });
    document.info.pid = 0;
    const sandbox = parseCrictlInspectp(JSON.stringify(document)).sandbox;
    expect(sandbox).toMatchObject({ ready: false });
    expect(sandbox).not.toHaveProperty('pid');
  });

  test('a document cut short: the whole one before it is kept, its own lines are skipped', () => {
    const text = `${INSPECT_WEB}\n${INSPECT_PROXY.slice(0, 500)}`;
    const result = parseCrictlInspectp(text);
    expect(result.sandboxes).toEqual([WEB_INSPECTED]);
    const cut = INSPECT_PROXY.slice(0, 500).split('\n');
    expect(result.skipped).toBe(cut.filter((line) => line.trim() !== '').length);
    expect(result.error).toMatch(/^JSON does not parse/);
  });

  test('a document without status.id is skipped as one entry', () => {
    const result = parseCrictlInspectp('{"info": {"pid": 1}, "status": {}}');
    expect(result).toMatchObject({ sandboxes: [], skipped: 1 });
    expect(result).not.toHaveProperty('sandbox');
  });

  test('text that is not JSON is skipped line by line', () => {
    const result = parseCrictlInspectp('FATA[0000] getting sandbox status: rpc error\nno such sandbox\n');
    expect(result).toMatchObject({ sandboxes: [], skipped: 1, error: 'text outside the JSON' });
  });
});

// ---------------------------------------------------------------------------------------------------------- join

// An lsns table from the same node: the pod's netns is mounted at /run/netns/… (lsns reads mountinfo, where
// /var/run is /run); the pause process of a second pod is the lowest PID of a namespace without a mount.
const NODE_LSNS = `        NS TYPE NPROCS   PID USER    NETNSID NSFS                                                COMMAND
4026531840 net     212     1 root unassigned                                                     /sbin/init
4026532177 net       3 14156 65535        0 /run/netns/cni-d47bdb8a-6641-6cd2-d33e-55eb78bc2407  /pause
4026532410 net       2 20968 65535        1                                                      /pause
`;

describe('toSandboxEntries', () => {
  const index = netnsInodeIndex(parseLsns(NODE_LSNS).namespaces);
  const webEntry: SandboxEntry = {
    id: WEB_SANDBOX,
    namespace: 'develop',
    name: 'web-with-logger',
    uid: WEB_UID,
    netns: 4026532177,
    hostNetwork: false,
    ip: '10.244.0.153',
  };
  const proxyEntry: SandboxEntry = {
    id: PROXY_SANDBOX,
    namespace: 'kube-system',
    name: 'kube-proxy-x7k2p',
    uid: PROXY_UID,
    hostNetwork: true,
  };
  const inspects = parseCrictlInspectp(`${INSPECT_WEB}\n${INSPECT_PROXY}`).sandboxes;

  test('JSON pods + inspects: the /var/run netns path meets lsns’s /run mount; hostNetwork has no netns; NotReady is dropped', () => {
    expect(toSandboxEntries(parseCrictlPods(PODS_JSON).sandboxes, inspects, index)).toEqual([webEntry, proxyEntry]);
  });

  test('table pods (13-character ids) take the full id and the uid from the inspect', () => {
    expect(toSandboxEntries(parseCrictlPods(PODS_TABLE).sandboxes, inspects, index)).toEqual([webEntry, proxyEntry]);
  });

  test('without a netns path, the pause PID finds the namespace through /proc/<pid>/ns/net', () => {
    const other: InspectedSandbox = { ...WEB_INSPECTED, id: OLD_SANDBOX, pid: 20968, netnsPath: undefined };
    const [entry] = toSandboxEntries([], [other], index);
    expect(entry).toMatchObject({ id: OLD_SANDBOX, netns: 4026532410 });
  });

  test('a listed pod without an inspect keeps what the list knows, and no netns', () => {
    const pods = parseCrictlPods(PODS_JSON).sandboxes;
    expect(toSandboxEntries(pods.slice(0, 1), [], index)).toEqual([
      { id: WEB_SANDBOX, namespace: 'develop', name: 'web-with-logger', uid: WEB_UID, hostNetwork: false },
    ]);
  });

  test('without an index, no netns is guessed', () => {
    expect(toSandboxEntries([], inspects)[0]).not.toHaveProperty('netns');
  });

  test.each([
    [WEB_SANDBOX, WEB_SANDBOX, true],
    ['bb3b311a34072', WEB_SANDBOX, true],
    [WEB_SANDBOX, 'bb3b311a3407', true],
    ['bb3b311a340', WEB_SANDBOX, false],
    ['bb3b311a34073', WEB_SANDBOX, false],
    ['', WEB_SANDBOX, false],
  ])('sameSandboxId(%s, %s) is %s', (a, b, same) => {
    expect(sameSandboxId(a, b)).toBe(same);
  });
});

// ------------------------------------------------------------------------------------------------------ properties

const FIXTURES = [PS_TABLE, MS_PS_TABLE, DOCS_PODS_TABLE, PODS_TABLE, PODS_JSON, PS_JSON, INSPECT_WEB, INSPECT_PROXY];
const PARSERS = [parseCrictlPods, parseCrictlPs, parseCrictlInspectp];

const damagedFixture = fc
  .constantFrom(...FIXTURES)
  .chain((text) => fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 6 }).map((cuts) => cutLines(text, cuts)));

const hexId = fc.stringMatching(/^[0-9a-f]{64}$/);
const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,40}$/);
const created = fc.constantFrom('Less than a second ago', '17 seconds ago', 'About an hour ago', '3 days ago');
const garbage = fc.stringMatching(/^[a-z][!-~]{0,80}$/);

/** Table rows, blank lines and garbage in some order; renders the table and says what each line is. */
function tableScenario<R>(header: string[], row: fc.Arbitrary<R>, cells: (row: R) => string[]) {
  const item = fc.oneof(
    { weight: 6, arbitrary: row.map((value) => ({ row: value })) },
    { weight: 1, arbitrary: fc.constant({ blank: true as const }) },
    { weight: 1, arbitrary: garbage.map((text) => ({ garbage: text })) },
  );
  return fc.array(item, { maxLength: 25 }).map((items) => {
    const rows = items.flatMap((entry) => ('row' in entry ? [entry.row] : []));
    const rendered = tabwriter([header, ...rows.map(cells)]).split('\n');
    let r = 0;
    const lines = [
      rendered[0]!,
      ...items.map((entry) => ('row' in entry ? rendered[++r]! : 'garbage' in entry ? entry.garbage : '')),
    ];
    return {
      text: `${lines.join('\n')}\n`,
      rows,
      blank: items.filter((entry) => 'blank' in entry).length,
      garbage: items.filter((entry) => 'garbage' in entry).length,
    };
  });
}

describe('crictl parser properties', () => {
  test.each(PARSERS.map((parse): [string, (text: string) => LineStats] => [parse.name, parse]))(
    '%s never throws, and counts every line, on arbitrary text and damaged fixtures',
    (_name, parse) => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), damagedFixture), (text) => {
          const result = parse(text);
          expect(result.lines).toBe(lineCount(text));
          expect(result.skippedSamples.length).toBeLessThanOrEqual(5);
        }),
      );
    },
  );

  test('crictl pods table: lines = rows + header + blank + skipped, and every row reads back', () => {
    const pod = fc.record({
      id: fc.oneof(
        hexId.map((id) => id.slice(0, 13)),
        hexId,
      ),
      created,
      state: fc.constantFrom('Ready', 'NotReady'),
      name: word,
      namespace: word,
      attempt: fc.nat({ max: 99 }),
      runtime: fc.constantFrom('(default)', 'runc', 'kata-qemu'),
    });
    const scenario = tableScenario(
      ['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME'],
      pod,
      (p) => [p.id, p.created, p.state, p.name, p.namespace, String(p.attempt), p.runtime],
    );
    fc.assert(
      fc.property(scenario, ({ text, rows, blank, garbage }) => {
        const result = parseCrictlPods(text);
        expect(result.skipped).toBe(garbage);
        expect(result.lines).toBe(result.sandboxes.length + 1 + blank + result.skipped);
        expect(result.sandboxes.map((p) => [p.id, p.created, p.state, p.name, p.namespace, p.attempt])).toEqual(
          rows.map((p) => [
            p.id,
            p.created,
            p.state === 'Ready' ? 'ready' : 'notready',
            p.name,
            p.namespace,
            p.attempt,
          ]),
        );
      }),
    );
  });

  test('crictl ps table: lines = rows + header + blank + skipped, and every row reads back', () => {
    const container = fc.record({
      id: hexId.map((id) => id.slice(0, 13)),
      image: hexId.map((id) => id.slice(0, 13)),
      created,
      state: fc.constantFrom('Created', 'Running', 'Exited', 'Unknown'),
      name: word,
      attempt: fc.nat({ max: 99 }),
      podId: hexId.map((id) => id.slice(0, 13)),
      pod: word,
      namespace: word,
    });
    const scenario = tableScenario(
      ['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD', 'NAMESPACE'],
      container,
      (c) => [c.id, c.image, c.created, c.state, c.name, String(c.attempt), c.podId, c.pod, c.namespace],
    );
    fc.assert(
      fc.property(scenario, ({ text, rows, blank, garbage }) => {
        const result = parseCrictlPs(text);
        expect(result.skipped).toBe(garbage);
        expect(result.lines).toBe(result.containers.length + 1 + blank + result.skipped);
        expect(result.containers).toEqual(
          rows.map((c) => ({
            id: c.id,
            image: c.image,
            created: c.created,
            state: c.state.toLowerCase(),
            name: c.name,
            attempt: c.attempt,
            podSandboxId: c.podId,
            podName: c.pod,
            podNamespace: c.namespace,
          })),
        );
      }),
    );
  });
});

// ------------------------------------------------------------------------------------------------------- helpers

function cutLines(text: string, cuts: [number, number][]): string {
  const lines = text.split('\n');
  for (const [which, where] of cuts) {
    const index = which % lines.length;
    lines[index] = lines[index]!.slice(0, where % (lines[index]!.length + 1));
  }
  return lines.join('\n');
}

function lineCount(text: string): number {
  if (text === '') return 0;
  const lines = text.split('\n');
  return lines.at(-1) === '' ? lines.length - 1 : lines.length;
}
