// The evidence engine on files a person captured by hand (the runbook's tcptracer, lsns, pstree, crictl and per-pod
// netstat/ss outputs, or a node probe report), any subset: read, attribute to pods, rank. `snat-doctor analyze`
// (lib/cli/analyze.ts) is a shell over it. Parsers load only for the files given: the tcptracer-only path, the
// common and the large one, stays light.
import { SnatDoctorError } from '../errors.ts';
import type { LineStats } from '../evidence/lineStats.ts';
import type { Culprit, NetnsEntry, SandboxEntry, TraceAggregate, TraceSourceTotal } from '../model.ts';
import { cannotRead, readInputText as readBounded, streamable } from '../readInput.ts';
import type { AttributedSource, PodSockets, ShimOfNetns } from './attributeEvidence.ts';

export interface AnalyzeOptions {
  tcptracer?: string;
  lsns?: string;
  pstree?: string;
  crictl?: string[];
  netstat?: string[];
  ss?: string[];
  procNetTcp?: string[];
  windowsNetstat?: string[];
  probeReport?: string;
  clusterCidr?: string[];
  seconds?: number;
  top: number;
}

export interface InputSummary extends LineStats {
  kind: string;
  file: string;
  pod?: string;
  error?: string;
}

export interface AnalysisResult {
  /** Trace events read (connect, accept, close, failed, unknown). */
  events: number;
  /** What traced them, when a probe report says (`bcc` is tcptracer, as in a --tcptracer file). */
  tracer?: 'bcc' | 'bpftrace';
  /** Lines skipped across every input. */
  skipped: number;
  /** Seconds the capture covered: --seconds, or the trace's own timestamps. */
  seconds?: number;
  bySource: AttributedSource[];
  /** Ranked, when the evidence tied connections to pods. */
  culprits: Culprit[];
  podsExamined: number;
  unattributedSources: number;
  inputs: InputSummary[];
  notes: string[];
}

/**
 * The most read of one file, for every input read whole (lsns, pstree, crictl, the per-pod socket tables, the probe
 * report; `sandbox --scenario` too): the largest real ones are a few MiB (netstat -ptnW of 65,535 sockets is about
 * 10 MiB, crictl inspectp of a full node's 250 pods about 5 MiB, a probe report stays under runCommand's 512 kB).
 * The tcptracer capture has no cap: it is streamed in bounded memory, so a live one (`<(tcptracer …)`) may run on.
 */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const POD = /^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

export async function analyzeEvidence(options: AnalyzeOptions): Promise<AnalysisResult> {
  const perPod = [
    ...(options.netstat ?? []).map((spec) => ({ kind: 'netstat', spec })),
    ...(options.ss ?? []).map((spec) => ({ kind: 'ss', spec })),
    ...(options.procNetTcp ?? []).map((spec) => ({ kind: 'proc-net-tcp', spec })),
    ...(options.windowsNetstat ?? []).map((spec) => ({ kind: 'windows-netstat', spec })),
  ].map(({ kind, spec }) => ({ kind, ...podFile(kind, spec) }));
  const given =
    options.tcptracer ?? options.lsns ?? options.pstree ?? options.probeReport ?? options.crictl?.[0] ?? perPod[0];
  if (given === undefined) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      'Give at least one evidence file: --tcptracer FILE, --lsns FILE, --pstree FILE, --crictl FILE, ' +
        '--netstat POD=FILE, --ss POD=FILE, --proc-net-tcp POD=FILE, --windows-netstat POD=FILE or --probe-report FILE. ' +
        'See snat-doctor analyze --help.',
    );
  }

  const inputs: InputSummary[] = [];
  const notes: string[] = [];
  const record = (kind: string, file: string, stats: LineStats & { error?: string }, pod?: string) =>
    inputs.push({
      kind,
      file,
      ...(pod ? { pod } : {}),
      lines: stats.lines,
      skipped: stats.skipped,
      skippedSamples: stats.skippedSamples,
      ...(stats.error ? { error: stats.error } : {}),
    });

  let trace: TraceAggregate[] = [];
  let sourceTotals: TraceSourceTotal[] = [];
  let tracer: AnalysisResult['tracer'];
  let events = 0;
  let seconds = options.seconds;
  if (options.tcptracer) {
    const { summarizeTcptracerFile, MAX_SOURCES, ROWS_REPORTED } = await import('../evidence/tcptracer.ts');
    const path = await streamable(options.tcptracer, '--tcptracer');
    // A system error (EIO, EISDIR if the path changed since) is the file's; anything else is a bug and propagates.
    // Per-destination rows are read only for sources tied to pods, which needs the pods' sandboxes (crictl, or a probe
    // report's): without them, the sources' exact totals are all that is reported, and counting the rows was most
    // of the time after the read at 5,000 destinations (issue 13).
    const destinations = (options.crictl?.length ?? 0) > 0 || options.probeReport !== undefined;
    const summary = await summarizeTcptracerFile(path, { destinations }).catch((error: unknown) => {
      throw error instanceof Error && 'syscall' in error ? cannotRead(path, '--tcptracer', error) : error;
    });
    record('tcptracer', options.tcptracer, summary);
    trace = summary.aggregates;
    // The exact per-source totals: the rows are only each source's busiest destinations.
    sourceTotals = summary.bySource.flatMap((s) =>
      (['connect', 'accept', 'close'] as const).map((type) => ({
        saddr: s.saddr,
        netns: s.netns ?? 0,
        type,
        count: type === 'connect' ? s.connects : type === 'accept' ? s.accepts : s.closes,
      })),
    );
    events = summary.events;
    const cut = summary.cut;
    if (destinations && cut && cut.unreportedEvents > 0) {
      notes.push(
        `Per destination, each source's ${ROWS_REPORTED} busiest are kept: ${cut.unreportedEvents} connect(s) to ` +
          "others count in the sources' totals only" +
          (cut.undercount > 0 ? `, and a kept destination's count may be low by up to ${cut.undercount}.` : '.'),
      );
    }
    if (cut && cut.unsourcedEvents > 0) {
      notes.push(
        `${cut.unsourcedEvents} event(s) came from sources past the first ${MAX_SOURCES}: counted in the total only.`,
      );
    }
    if (seconds === undefined && summary.firstTime !== undefined && summary.lastTime !== undefined) {
      const span = summary.lastTime - summary.firstTime;
      if (span > 0) seconds = Math.round(span * 10) / 10;
    }
    if (summary.lostSamples > 0)
      notes.push(`tcptracer reported ${summary.lostSamples} lost sample(s): counts are low.`);
  }

  let namespaces: NetnsEntry[] = [];
  if (options.lsns) {
    const { parseLsns } = await import('../evidence/lsns.ts');
    const parsed = parseLsns(await readInputText(options.lsns, '--lsns'));
    record('lsns', options.lsns, parsed);
    namespaces = parsed.namespaces;
  }

  let shims: ShimOfNetns[] = [];
  if (options.pstree) {
    const { parsePstree } = await import('../evidence/pstree.ts');
    const parsed = parsePstree(await readInputText(options.pstree, '--pstree'));
    record('pstree', options.pstree, parsed);
    shims = parsed.shims.map((s) => ({ sandboxId: s.sandboxId, pids: [s.shimPid, ...s.descendantPids] }));
    if (parsed.unreadableShims.length > 0) {
      notes.push(`pstree cut ${parsed.unreadableShims.length} shim command line(s): capture it with pstree -apsl.`);
    }
  }

  let sandboxes: SandboxEntry[] = [];
  if (options.crictl?.length) {
    const crictl = await import('../evidence/crictl.ts');
    const pods: import('../evidence/crictl.ts').CrictlPod[] = [];
    const inspects: import('../evidence/crictl.ts').InspectedSandbox[] = [];
    for (const file of options.crictl) {
      const text = await readInputText(file, '--crictl');
      // `crictl inspectp` documents carry "info"/"status"; anything else is read as `crictl pods` (JSON or table).
      if (/"status"\s*:\s*\{/.test(text) && /"info"\s*:/.test(text)) {
        const parsed = crictl.parseCrictlInspectp(text);
        record('crictl inspectp', file, parsed);
        inspects.push(...parsed.sandboxes);
      } else {
        const parsed = crictl.parseCrictlPods(text);
        record('crictl pods', file, parsed);
        pods.push(...parsed.sandboxes);
      }
    }
    sandboxes = crictl.toSandboxEntries(pods, inspects, crictl.netnsInodeIndex(namespaces));
    if (inspects.length === 0 && pods.length > 0) {
      notes.push('crictl pods alone names the pods but not their network namespaces: add crictl inspectp output.');
    }
  }

  const podSockets: PodSockets[] = [];
  for (const { kind, pod, file } of perPod) {
    const text = await readInputText(file, `--${kind}`);
    if (kind === 'netstat') {
      const { parseNetstat } = await import('../evidence/netstat.ts');
      const parsed = parseNetstat(text);
      record(kind, file, parsed, pod);
      podSockets.push({ pod, source: 'exec-netstat', sockets: parsed.sockets });
    } else if (kind === 'ss') {
      const { parseSs } = await import('../evidence/ss.ts');
      const parsed = parseSs(text);
      record(kind, file, parsed, pod);
      podSockets.push({ pod, source: 'exec-netstat', sockets: parsed.sockets });
    } else if (kind === 'proc-net-tcp') {
      const { parseProcNetTcp } = await import('../evidence/procNetTcp.ts');
      const parsed = parseProcNetTcp(text, { netns: 0 });
      record(kind, file, { ...parsed, skippedSamples: [] }, pod);
      podSockets.push({ pod, source: 'exec-proc-net-tcp', sockets: parsed.sockets });
    } else {
      const { parseWindowsNetstat } = await import('../evidence/windowsNetstat.ts');
      const parsed = parseWindowsNetstat(text);
      record(kind, file, parsed, pod);
      podSockets.push({ pod, source: 'exec-netstat', sockets: parsed.sockets });
    }
  }

  if (options.probeReport) {
    const { parseProbeReport } = await import('../probe/probeReport.ts');
    const report = parseProbeReport(await readInputText(options.probeReport, '--probe-report'), {
      node: '',
      seconds: options.seconds ?? 0,
    });
    record('probe report', options.probeReport, report);
    trace = [...trace, ...report.capture.trace];
    tracer = report.tracer;
    sourceTotals = [...sourceTotals, ...(report.capture.traceSources ?? [])];
    events += report.traceStats.events;
    // Connect rates are per the seconds the tracer really ran (it may have died early), else per the capture.
    seconds ??= report.capture.tracedSeconds || report.capture.seconds || undefined;
    namespaces = [...namespaces, ...report.capture.namespaces];
    notes.push(
      ...report.capture.unavailable.map((u) => `On the node, ${u.what} was unavailable: ${u.reason}.`),
      'A probe report names pods by uid only: match them with kubectl get pods -A -o custom-columns=UID:.metadata.uid,NAME:.metadata.name.',
    );
    // Without the Kubernetes API the report's pods are known by uid: name them by it.
    sandboxes = [...sandboxes, ...report.capture.sandboxes.map((s) => ({ ...s, namespace: 'uid', name: s.uid }))];
    for (const s of report.capture.sandboxes) {
      const mine = report.capture.sockets.filter((x) =>
        s.hostNetwork ? x.podUid === s.uid : x.netns === s.netns && x.podUid === undefined,
      );
      podSockets.push({ pod: `uid/${s.uid}`, source: 'node-snapshot', sockets: mine });
    }
  }

  const { attributeEvidence } = await import('./attributeEvidence.ts');
  const attribution = attributeEvidence({
    trace,
    namespaces,
    sandboxes,
    shims,
    podSockets,
    clusterCidrs: options.clusterCidr ?? [],
    sourceTotals,
  });
  // Connects were traced: rows, or (without the rows, see above) a source's connect total.
  const traced = trace.length > 0 || sourceTotals.some((t) => t.type === 'connect' && t.count > 0);
  let culprits: Culprit[] = [];
  if (attribution.pods.length > 0) {
    const { rankCulprits } = await import('./rankCulprits.ts');
    culprits = rankCulprits(attribution.pods, { captureSeconds: seconds ?? 0 }).culprits;
  } else if (traced && options.probeReport) {
    notes.push(
      'No pod is known: the probe found no process in a pod cgroup (kubepods) on this node, so sources are listed by address and network namespace.',
    );
  } else if (traced) {
    notes.push(
      'No pod is known, so sources are listed by address and network namespace. To name the pods, add ' +
        '--crictl with crictl pods -o json and crictl inspectp output (and --lsns), or --pstree.',
    );
  }
  if (culprits.length > 0 && seconds === undefined) {
    notes.push('The capture length is unknown (no -t timestamps): give --seconds N for connects per second.');
  }

  return {
    events,
    ...(tracer ? { tracer } : {}),
    skipped: inputs.reduce((sum, i) => sum + i.skipped, 0),
    ...(seconds !== undefined ? { seconds } : {}),
    bySource: attribution.bySource.slice(0, Math.max(options.top, 1) * 4),
    culprits: culprits.slice(0, options.top),
    podsExamined: attribution.pods.length,
    unattributedSources: attribution.unattributed,
    inputs,
    notes,
  };
}

/** `POD=FILE` → pod and file; POD is `namespace/name` or a bare pod name. */
function podFile(option: string, spec: string): { pod: string; file: string } {
  const at = spec.indexOf('=');
  const pod = at > 0 ? spec.slice(0, at) : '';
  const file = spec.slice(at + 1);
  if (at <= 0 || file === '' || !POD.test(pod)) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `--${option} ${JSON.stringify(spec.slice(0, 120))} is not valid: give POD=FILE, where POD is namespace/name ` +
        '(or a pod name) as kubectl shows it, e.g. --netstat payments/checkout-api-7d9f8b6c5d-x2x9k=netstat.txt.',
    );
  }
  return { pod, file };
}

/** An evidence file, read whole within MAX_INPUT_BYTES. */
function readInputText(path: string, option: string): Promise<string> {
  return readBounded(path, option, MAX_INPUT_BYTES);
}
