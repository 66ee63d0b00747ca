// A fake Kubernetes node on this machine's real kernel, for running the real node probe (lib/probe/node-probe.sh)
// against the real /proc: pods are network namespaces made with `ip netns add` (they show under /run/netns, as CNI's
// do), their processes sit in kubepods cgroups, and each pod's processes are children of a stand-in containerd shim
// whose command line is the real one's, with the pod's sandbox id (test/probe/fakenode/shim.mjs), the first of them a
// `pause`.
//
// Network: nothing here can reach, or be reached from, anything but the fake node. A bridge in a namespace of its own
// joins the pods (TEST-NET-2, 198.51.100.0/24) and the "internet" (a namespace of servers, TEST-NET-3, 203.0.113.0/24):
// each side has the other's /24 as an on-link route and no default route, so nothing is routed anywhere else. The one
// thing added to the host's namespace is a veth for hostNetwork pods: a TEST-NET-2 /32 on the host's end, a route to
// one TEST-NET-3 /32 (the servers' end) through it, and nothing else (no default route is touched).
//
// Everything made is named per run (snd-XXXX-…) and written to a manifest as it is made, so teardown — afterAll, the
// process's exit, or a later run finding the manifest of a run whose process is gone — removes exactly what this run
// made: its processes (by PID and start time, and whatever is in its pod cgroups), cgroups, namespaces, veth, files.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FAKENODE = fileURLToPath(new URL('./fakenode/', import.meta.url));
const WORKLOAD = join(FAKENODE, 'workload.mjs');
// The shim stand-in, run from FAKENODE by this relative name (see shim.mjs), and the name it takes.
const SHIM = 'shim.mjs';
const SHIM_NAME = 'containerd-shim-runc-v2';
const MANIFEST = 'fakenode-manifest.json';
const PREFIX = 'snd-fakenode-';

export const POD_SUBNET = '198.51.100.0/24';
export const SERVER_SUBNET = '203.0.113.0/24';
export const CONTAINERD_ADDRESS = '/run/containerd/containerd.sock';

// ── What a run asks for ──────────────────────────────────────────────────────────────────────────────────────────────

/** What one workload process does (test/probe/fakenode/workload.mjs). */
export interface WorkloadSpec {
  listen?: { host: string; port: number }[];
  udpBind?: { host: string; port: number }[];
  hold?: { host: string; port: number; count: number }[];
  udpConnect?: { host: string; port: number; count: number }[];
  churn?: { host: string; port: number; pauseMs?: number };
  fail?: { host: string; port: number; attempts: number; sentinelPort: number; pauseMs?: number };
}

export interface PodSpec {
  /** Short (a few letters): it names the pod's namespace, snd-XXXX-NAME, and its veth. */
  name: string;
  hostNetwork?: boolean;
  /** The pod's address (TEST-NET-2); none for hostNetwork pods. */
  ip?: string;
  qos?: 'besteffort' | 'burstable' | 'guaranteed';
  /** The pod's one container besides pause. */
  workload: WorkloadSpec;
}

export interface FakeNodeSpec {
  /** The servers' addresses (TEST-NET-3) on the bridge. */
  serverIps: string[];
  /** The servers' process, in the servers' namespace (not a pod). */
  servers: WorkloadSpec;
  pods: PodSpec[];
  /** A second process in the servers' namespace, started once every pod is ready (clients of pods that listen). */
  clients?: WorkloadSpec;
}

/** The host's link to the servers, for hostNetwork pods: known only once it is made (its addresses are per run). */
export interface HostLink {
  device: string;
  /** The host's end (TEST-NET-2 /32). */
  hostIp: string;
  /** The servers' end (TEST-NET-3 /32): where hostNetwork pods connect. */
  serverIp: string;
}

// ── What a run made ──────────────────────────────────────────────────────────────────────────────────────────────────

export interface WorkloadStatus {
  pid: number;
  ready: boolean;
  listening: number;
  accepted: number;
  established: number;
  udpConnected: number;
  churn: { started: boolean; attempts: number; connected: number; stopped: boolean };
  fail: { sentinels: number; attempts: number; refused: number; done: boolean };
  errors: string[];
}

export interface FakeWorkload {
  pid: number;
  statusFile: string;
  controlDir: string;
  log: string;
}

export interface FakePod {
  name: string;
  uid: string;
  hostNetwork: boolean;
  /** `ip netns` name and its /run/netns path (none for hostNetwork pods). */
  netnsName?: string;
  netnsPath?: string;
  /** Network namespace inode (the host's for hostNetwork pods). */
  netns: number;
  ip?: string;
  sandboxId: string;
  shimPid: number;
  pausePid: number;
  workload: FakeWorkload & { containerId: string };
}

export interface FakeServers extends FakeWorkload {
  netnsName: string;
  netns: number;
}

export type CgroupLayout = { version: 1 | 2; root: string };

export type Support = { ok: true; cgroup: CgroupLayout; bpftrace?: string } | { ok: false; reason: string };

interface Manifest {
  owner: { pid: number; start: number };
  dir: string;
  processes: { pid: number; start: number }[];
  /** Cgroup directories this run created, parents before children. */
  cgroups: string[];
  /** Cgroups whose members are this run's processes (killed at teardown whatever their PIDs). */
  memberCgroups: string[];
  netns: string[];
  hostDevice?: string;
}

// ── Can this machine do it? ──────────────────────────────────────────────────────────────────────────────────────────

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: quietEnv() });
}

function tryRun(command: string, args: string[]): string | undefined {
  try {
    return run(command, args);
  } catch {
    return undefined;
  }
}

function quietEnv(): NodeJS.ProcessEnv {
  // ss ≥ 6.11 wraps lines when COLUMNS is set.
  const { COLUMNS: _columns, ...env } = process.env;
  return env;
}

function which(name: string): string | undefined {
  return tryRun('sh', ['-c', `command -v ${name}`])?.trim() || undefined;
}

/** Where pods' cgroups go: cgroup v2 at /sys/fs/cgroup, else a v1 hierarchy (pids first), else a v2 one mounted elsewhere. */
export function cgroupLayout(): CgroupLayout | undefined {
  const forced = /^v([12]):(\/.+)$/.exec(process.env.SND_FAKENODE_CGROUP ?? '');
  if (forced) return { version: Number(forced[1]) as 1 | 2, root: forced[2]! };
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return { version: 2, root: '/sys/fs/cgroup' };
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => {
      const [left, right] = line.split(' - ');
      const [fstype, , options] = (right ?? '').split(' ');
      return { point: left?.split(' ')[4] ?? '', fstype, options: options?.split(',') ?? [] };
    });
  const v1 = mounts.filter((m) => m.fstype === 'cgroup');
  const pick =
    v1.find((m) => m.options.includes('pids')) ??
    v1.find((m) => m.options.includes('memory')) ??
    v1.find((m) => m.options.some((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o)));
  if (pick) return { version: 1, root: pick.point };
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  return v2 ? { version: 2, root: v2.point } : undefined;
}

/** Whether a fake node can be built here, and why not. Synchronous: a describe is chosen (or skipped) with it. */
export function fakeNodeSupport(): Support {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (it makes network namespaces and cgroups)' };
  for (const tool of ['ip', 'ss', 'pstree']) {
    if (!which(tool)) {
      const pkg = { ip: 'iproute2', ss: 'iproute2', pstree: 'psmisc' }[tool];
      return { ok: false, reason: `${tool} is not installed (Debian package ${pkg})` };
    }
  }
  if (/kubepods/.test(readFileSync('/proc/self/cgroup', 'utf8'))) {
    return {
      ok: false,
      reason: 'this process is itself in a kubepods cgroup (a pod?): fake pods would not stand apart',
    };
  }
  const probeNetns = `snd-check-${randomBytes(3).toString('hex')}`;
  const steps: [string, string[]][] = [
    ['`ip netns add` fails (no CAP_SYS_ADMIN?)', ['netns', 'add', probeNetns]],
    ['`ip netns exec` fails', ['netns', 'exec', probeNetns, 'true']],
    ['no bridges (kernel module bridge)', ['-n', probeNetns, 'link', 'add', 'b0', 'type', 'bridge']],
    [
      'no veth pairs (kernel module veth)',
      ['-n', probeNetns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ],
  ];
  try {
    for (const [why, args] of steps) {
      try {
        run('ip', args);
      } catch (error) {
        return { ok: false, reason: `${why}: ${firstLine(error)}` };
      }
    }
  } finally {
    tryRun('ip', ['netns', 'del', probeNetns]);
  }
  const cgroup = cgroupLayout();
  if (!cgroup) return { ok: false, reason: 'no cgroup hierarchy is mounted' };
  const probeCgroup = join(cgroup.root, probeNetns);
  try {
    mkdirSync(probeCgroup);
    rmdirSync(probeCgroup);
  } catch (error) {
    return { ok: false, reason: `cannot make cgroups under ${cgroup.root}: ${firstLine(error)}` };
  }
  const bpftrace = which('bpftrace');
  return { ok: true, cgroup, ...(bpftrace ? { bpftrace } : {}) };
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim().split('\n')[0] ?? '';
}

// ── Building ─────────────────────────────────────────────────────────────────────────────────────────────────────────

function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/** The host's network namespace as the probe finds it: PID 1's, or (where that cannot be read) its own. */
function hostNetns(): number {
  for (const pid of ['1', 'self']) {
    try {
      return Number(/\d+/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[0]);
    } catch {
      // PID 1 may be out of reach (a sandbox's init)
    }
  }
  throw new Error('cannot read a network namespace from /proc');
}

function netnsInode(path: string): number {
  return statSync(path).ino;
}

const hex64 = () => randomBytes(32).toString('hex');
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns something other than undefined; throws with `what` (and `detail()`) after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await sleep(50);
  }
}

export class FakeNode {
  readonly id: string;
  readonly dir: string;
  readonly hostNetns: number;
  readonly pods = new Map<string, FakePod>();
  servers!: FakeServers;
  clients?: FakeWorkload;
  hostLink!: HostLink;
  readonly switchNetns: string;
  readonly bridge: string;
  private readonly manifest: Manifest;
  private readonly onExit = () => this.teardown();
  private tornDown = false;

  readonly cgroup: CgroupLayout;

  private constructor(cgroup: CgroupLayout, id: string) {
    this.cgroup = cgroup;
    this.id = id;
    this.hostNetns = hostNetns();
    this.dir = mkdtempSync(join(tmpdir(), `${PREFIX}${id}-`));
    this.switchNetns = `snd-${id}-sw`;
    this.bridge = `snd-br-${id}`;
    this.manifest = {
      owner: { pid: process.pid, start: processStart(process.pid) ?? 0 },
      dir: this.dir,
      processes: [],
      cgroups: [],
      memberCgroups: [],
      netns: [],
    };
    this.save();
    process.on('exit', this.onExit);
  }

  /** Builds the node the spec describes and waits until every workload says it is ready. */
  static async build(cgroup: CgroupLayout, spec: (link: HostLink) => FakeNodeSpec): Promise<FakeNode> {
    cleanStaleRuns();
    let id = randomBytes(2).toString('hex');
    while (existsSync(`/run/netns/snd-${id}-sw`)) id = randomBytes(2).toString('hex');
    const node = new FakeNode(cgroup, id);
    try {
      await node.make(spec);
      return node;
    } catch (error) {
      node.teardown();
      throw error;
    }
  }

  private save() {
    writeFileSync(join(this.dir, MANIFEST), JSON.stringify(this.manifest, null, 2));
  }

  private ip(...args: string[]) {
    try {
      run('ip', args);
    } catch (error) {
      throw new Error(`ip ${args.join(' ')}: ${firstLine(error)}`);
    }
  }

  private addNetns(name: string): string {
    this.ip('netns', 'add', name);
    this.manifest.netns.push(name);
    this.save();
    this.ip('-n', name, 'link', 'set', 'lo', 'up');
    return `/run/netns/${name}`;
  }

  /** A namespace on the bridge: its eth0 has `ips` (/24), the other side's /24 is on-link, and there is no other route. */
  private plug(netns: string, port: string, ips: string[], peerSubnet: string) {
    this.ip('-n', this.switchNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    this.ip('-n', this.switchNetns, 'link', 'set', port, 'master', this.bridge, 'up');
    for (const ip of ips) this.ip('-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    this.ip('-n', netns, 'link', 'set', 'eth0', 'up');
    this.ip('-n', netns, 'route', 'add', peerSubnet, 'dev', 'eth0');
  }

  private async make(specOf: (link: HostLink) => FakeNodeSpec) {
    const pause = join(this.dir, 'pause');
    copyFileSync(which('sleep') ?? '/bin/sleep', pause);
    chmodSync(pause, 0o755);

    // The switch and the servers.
    this.addNetns(this.switchNetns);
    this.ip('-n', this.switchNetns, 'link', 'add', this.bridge, 'type', 'bridge', 'forward_delay', '0');
    this.ip('-n', this.switchNetns, 'link', 'set', this.bridge, 'up');
    const serversNetns = `snd-${this.id}-srv`;
    const serversPath = this.addNetns(serversNetns);
    this.hostLink = this.makeHostLink(serversNetns);
    const spec = specOf(this.hostLink);
    this.plug(serversNetns, 'srv', spec.serverIps, POD_SUBNET);
    this.servers = {
      ...(await this.startLoose('servers', serversNetns, spec.servers)),
      netnsName: serversNetns,
      netns: netnsInode(serversPath),
    };

    for (const podSpec of spec.pods) this.pods.set(podSpec.name, await this.makePod(podSpec, pause));
    if (spec.clients) this.clients = await this.startLoose('clients', serversNetns, spec.clients);
  }

  /** The host's veth to the servers, for hostNetwork pods: a /32 at each end, a /32 route each way. */
  private makeHostLink(serversNetns: string): HostLink {
    const device = `snd-${this.id}-h`;
    this.ip('link', 'add', device, 'type', 'veth', 'peer', 'name', 'hostlink', 'netns', serversNetns);
    this.manifest.hostDevice = device;
    this.save();
    this.ip('link', 'set', device, 'up');
    this.ip('-n', serversNetns, 'link', 'set', 'hostlink', 'up');
    // Per-run addresses: another run's host route to the same /32 would collide ("File exists"); then try another.
    for (let tries = 0; ; tries++) {
      const n = 100 + (randomBytes(1)[0]! % 150);
      const link = { device, hostIp: `198.51.100.${n}`, serverIp: `203.0.113.${n}` };
      this.ip('addr', 'add', `${link.hostIp}/32`, 'dev', device);
      try {
        this.ip('route', 'add', `${link.serverIp}/32`, 'dev', device, 'src', link.hostIp);
      } catch (error) {
        tryRun('ip', ['addr', 'del', `${link.hostIp}/32`, 'dev', device]);
        if (tries < 10) continue;
        throw error;
      }
      this.ip('-n', serversNetns, 'addr', 'add', `${link.serverIp}/32`, 'dev', 'hostlink');
      this.ip('-n', serversNetns, 'route', 'add', `${link.hostIp}/32`, 'dev', 'hostlink');
      return link;
    }
  }

  private workloadFiles(name: string, spec: WorkloadSpec) {
    const dir = join(this.dir, name);
    mkdirSync(join(dir, 'control'), { recursive: true });
    const workload = {
      statusFile: join(dir, 'status.json'),
      controlDir: join(dir, 'control'),
      log: join(dir, 'workload.log'),
      config: join(dir, 'config.json'),
    };
    writeFileSync(
      workload.config,
      JSON.stringify({ ...spec, status: workload.statusFile, control: workload.controlDir }, null, 2),
    );
    return workload;
  }

  /** A workload that is not a pod's: a child of this process, in `netns`. */
  private async startLoose(name: string, netns: string, spec: WorkloadSpec): Promise<FakeWorkload> {
    const { config, ...files } = this.workloadFiles(name, spec);
    const child = spawn(
      'sh',
      ['-c', `exec "$@" >${quote(files.log)} 2>&1`, 'sh', ...this.inNetns(netns), WORKLOAD, config],
      {
        stdio: 'ignore',
      },
    );
    this.track(child);
    const workload = { pid: child.pid!, ...files };
    await this.ready(name, workload);
    return workload;
  }

  private inNetns(netns: string | undefined): string[] {
    return netns ? ['ip', 'netns', 'exec', netns, process.execPath] : [process.execPath];
  }

  /** Keeps a child of this process to be killed at teardown (by PID and start time). */
  track(child: ChildProcess) {
    if (child.pid === undefined) return;
    this.manifest.processes.push({ pid: child.pid, start: processStart(child.pid) ?? 0 });
    this.save();
  }

  private containerCgroup(qos: string, uid: string, containerId: string): string[] {
    // Kubelet's layouts: cgroupfs (v1) and systemd (v2). Guaranteed pods sit right under kubepods.
    if (this.cgroup.version === 1) {
      return ['kubepods', ...(qos === 'guaranteed' ? [] : [qos]), `pod${uid}`, containerId];
    }
    const top = qos === 'guaranteed' ? 'kubepods' : `kubepods-${qos}`;
    return [
      'kubepods.slice',
      ...(qos === 'guaranteed' ? [] : [`kubepods-${qos}.slice`]),
      `${top}-pod${uid.replaceAll('-', '_')}.slice`,
      `cri-containerd-${containerId}.scope`,
    ];
  }

  /**
   * Makes a container's cgroup. The levels above the pod's (kubepods, its QoS class) may be shared with a run going on
   * at the same time: those this run made are marked as the fake node's (SHARED_CGROUPS), so that whichever run ends
   * last removes them, and one removed by another run's teardown meanwhile is made again.
   */
  private makeCgroup(levels: string[]): string {
    for (let attempt = 0; ; attempt++) {
      let path = this.cgroup.root;
      try {
        for (const [i, level] of levels.entries()) {
          path = join(path, level);
          if (existsSync(path)) continue;
          mkdirSync(path);
          if (i < levels.length - 2) markShared(path);
          else this.manifest.cgroups.push(path);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5) continue;
        throw error;
      }
      this.manifest.memberCgroups.push(path);
      this.save();
      return path;
    }
  }

  private async makePod(spec: PodSpec, pause: string): Promise<FakePod> {
    const uid = randomUUID();
    const sandboxId = hex64();
    const containerId = hex64();
    const hostNetwork = spec.hostNetwork === true;
    let netnsName: string | undefined;
    let netnsPath: string | undefined;
    if (!hostNetwork) {
      if (!spec.ip) throw new Error(`pod ${spec.name} needs an ip`);
      netnsName = `snd-${this.id}-${spec.name}`;
      netnsPath = this.addNetns(netnsName);
      this.plug(netnsName, `p-${spec.name}`.slice(0, 15), [spec.ip], SERVER_SUBNET);
    }
    const qos = spec.qos ?? 'besteffort';
    const sandboxCgroup = this.makeCgroup(this.containerCgroup(qos, uid, sandboxId));
    const workloadCgroup = this.makeCgroup(this.containerCgroup(qos, uid, containerId));

    // The containers, as the shim starts them: each joins its cgroup first, then the pod's namespace, then execs.
    const podDir = join(this.dir, `pod-${spec.name}`);
    mkdirSync(join(podDir, 'containers'), { recursive: true });
    const { config, ...files } = this.workloadFiles(`pod-${spec.name}/workload`, spec.workload);
    const container = (cgroupDir: string, command: string[], log = '/dev/null') =>
      [
        `echo $$ > ${quote(join(cgroupDir, 'cgroup.procs'))} || exit 1`,
        `exec ${command.map(quote).join(' ')} </dev/null >${quote(log)} 2>&1`,
        '',
      ].join('\n');
    writeFileSync(
      join(podDir, 'containers', '0-pause.sh'),
      container(sandboxCgroup, [...(netnsName ? ['ip', 'netns', 'exec', netnsName] : []), pause, '1000000']),
    );
    writeFileSync(
      join(podDir, 'containers', '1-workload.sh'),
      container(workloadCgroup, [...this.inNetns(netnsName), WORKLOAD, config], files.log),
    );
    // The shim: `node shim.mjs ARGS` whose argv[0] and argv[1] take as many bytes as the name it writes over them.
    const shimLog = openSync(join(podDir, 'shim.log'), 'w');
    const child = spawn(
      process.execPath,
      [SHIM, '-namespace', 'k8s.io', '-id', sandboxId, '-address', CONTAINERD_ADDRESS],
      {
        argv0: SHIM_NAME.slice(0, SHIM_NAME.length - SHIM.length - 1),
        cwd: FAKENODE,
        stdio: ['ignore', shimLog, shimLog],
        env: { ...process.env, SND_POD_DIR: podDir },
      },
    );
    closeSync(shimLog);
    this.track(child);

    const members = (dir: string) =>
      readFileSync(join(dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((p) => p !== '')
        .map(Number);
    const pausePid = await waitFor(
      `pod ${spec.name}'s pause process`,
      () => {
        const pid = members(sandboxCgroup)[0];
        return pid !== undefined && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'pause' ? pid : undefined;
      },
      20_000,
      () => `shim: ${readFileSync(join(podDir, 'shim.log'), 'utf8').slice(-1000) || 'said nothing'}`,
    );
    const workload = { ...files, containerId, pid: 0 };
    workload.pid = (await this.ready(`pod ${spec.name}`, workload)).pid;
    return {
      name: spec.name,
      uid,
      hostNetwork,
      ...(netnsName ? { netnsName, netnsPath } : {}),
      netns: netnsPath ? netnsInode(netnsPath) : this.hostNetns,
      ...(spec.ip ? { ip: spec.ip } : {}),
      sandboxId,
      shimPid: child.pid!,
      pausePid,
      workload,
    };
  }

  private async ready(name: string, workload: Omit<FakeWorkload, 'pid'>): Promise<WorkloadStatus> {
    return waitFor(
      `${name}'s workload to be ready`,
      () => {
        const status = this.status(workload);
        if (status && status.errors.length > 0) {
          throw new Error(`${name}'s workload failed: ${status.errors.join('; ')}`);
        }
        return status?.ready ? status : undefined;
      },
      20_000,
      () => (existsSync(workload.log) ? readFileSync(workload.log, 'utf8').slice(-2000) : 'no log'),
    );
  }

  // ── Using it ───────────────────────────────────────────────────────────────────────────────────────────────────────

  pod(name: string): FakePod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    return pod;
  }

  status(workload: Pick<FakeWorkload, 'statusFile'>): WorkloadStatus | undefined {
    try {
      return JSON.parse(readFileSync(workload.statusFile, 'utf8')) as WorkloadStatus;
    } catch {
      return undefined;
    }
  }

  control(workload: Pick<FakeWorkload, 'controlDir'>, signal: 'go' | 'stop') {
    writeFileSync(join(workload.controlDir, signal), '');
  }

  /** `ss ARGS` in a pod's namespace (the host's for none). Its own processes live only while it runs. */
  ss(netnsName: string | undefined, args: string[]): Promise<string> {
    const [command, ...rest] = netnsName ? ['ip', 'netns', 'exec', netnsName, 'ss', ...args] : ['ss', ...args];
    return new Promise((resolve, reject) =>
      execFile(command!, rest, { env: quietEnv(), maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${command} ${rest.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
      ),
    );
  }

  // ── Teardown ───────────────────────────────────────────────────────────────────────────────────────────────────────

  /** Removes everything this run made. Synchronous (it also runs on the process's exit); safe to call twice. */
  teardown() {
    if (this.tornDown) return;
    this.tornDown = true;
    process.removeListener('exit', this.onExit);
    teardownManifest(this.manifest);
  }
}

function teardownManifest(manifest: Manifest) {
  // Processes: the tracked ones if still the same processes, and every member of this run's pod cgroups.
  for (const { pid, start } of manifest.processes) {
    if (processStart(pid) === start) kill(pid);
  }
  const members = (dir: string) => {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = manifest.memberCgroups.flatMap(members);
    if (left.length === 0 || Date.now() > deadline) break;
    for (const pid of left) kill(pid);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  for (const dir of [...manifest.cgroups].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // already gone
    }
  }
  removeSharedCgroups();
  if (manifest.hostDevice) tryRun('ip', ['link', 'del', manifest.hostDevice]);
  for (const netns of [...manifest.netns].reverse()) tryRun('ip', ['netns', 'del', netns]);
  rmSync(manifest.dir, { recursive: true, force: true });
}

// The shared cgroup levels the fake node made (kubepods/, its QoS classes), one marker file each: removed, by any
// run, once empty. Never one that was there before (a real node's), which has no marker.
const SHARED_CGROUPS = join(tmpdir(), `${PREFIX}cgroups`);

function markShared(path: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(SHARED_CGROUPS, { recursive: true });
      writeFileSync(join(SHARED_CGROUPS, encodeURIComponent(path)), '');
      return;
    } catch (error) {
      // Another run's teardown removed the directory meanwhile.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
    }
  }
}

function removeSharedCgroups() {
  let markers: string[];
  try {
    markers = readdirSync(SHARED_CGROUPS);
  } catch {
    return;
  }
  // Deepest first.
  for (const marker of markers.sort((x, y) => y.length - x.length)) {
    try {
      rmdirSync(decodeURIComponent(marker));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') continue; // in use by another run
    }
    rmSync(join(SHARED_CGROUPS, marker), { force: true });
  }
  try {
    rmdirSync(SHARED_CGROUPS);
  } catch {
    // markers left: cgroups another run still uses
  }
}

function kill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Tears down what earlier runs left when their process died without doing it (killed, crashed). */
function cleanStaleRuns() {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(PREFIX)) continue;
    const file = join(tmpdir(), entry, MANIFEST);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
    } catch {
      continue;
    }
    if (processStart(manifest.owner.pid) === manifest.owner.start) continue; // its run is still going
    teardownManifest(manifest);
  }
}
