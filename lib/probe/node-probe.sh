#!/bin/sh
# snat-doctor node probe. Runs on an AKS node (Ubuntu or Azure Linux) in the host's namespaces — the probe pod starts
# it with `nsenter -t 1 -m -u -i -n -p -- sh -c SCRIPT probe ARGS`, this text being SCRIPT (lib/probe/probePod.ts) — and
# prints one compact, sectioned report (parsed by lib/probe/probeReport.ts):
#   meta           node, seconds (asked for), traced_seconds (how long the tracer really traced), tracer=yes|no,
#                  tracer_kind=bcc|bpftrace|none, …
#   trace          the tracer's events, aggregated as they stream (never written raw): rows COUNT TYPE SADDR DADDR DPORT
#                  NETNS PIDS COMMS [POD_UID], the largest per source first; inbound rows (accepts, and closes of
#                  connections to a port the namespace listens on) are keyed by the local port, DADDR "*"
#   trace-sources  exact event totals per source (NETNS SADDR TYPE COUNT), whatever the trace rows leave out
#   netns          network namespaces: inode, lowest PID, process count, command (one pass over /proc; no lsns)
#   netns-files    named network namespaces (/run/netns/cni-…) → inode
#   sandboxes      pod sandbox id → pause PID → netns inode (crictl), or the containerd shim above each namespace's
#                  process (pstree) without crictl
#   pod-processes  PID → netns, pod uid, container id, one per pod, from the kubepods cgroups
#   sockets        every namespace's TCP table (/proc/PID/net/tcp{,6}) aggregated by state and remote endpoint
#   udp-sockets    every namespace's connected UDP sockets (/proc/PID/net/udp{,6}), the same way
#   socket-totals  exact socket totals per namespace, protocol and state (NETNS PROTO STATE COUNT [POD_UID])
#   inbound        accepted TCP connections (local port = one the namespace listens on), per namespace and port
#   unavailable    what could not be used, and why
#
# The report is bounded whatever the node's traffic: every section keeps at most a fixed number of rows, each cut to
# a fixed number of bytes, and a section that had to leave rows out says so in a `#cut kept=K dropped=D
# dropped_count=C` line (C: the events or sockets in the rows left out, still in the exact totals). Rows × bytes at
# most: trace 400 × 230, trace-sources 1,300 × 70, netns 300 × 50, netns-files 300 × 80, pstree 600 × 130 (only
# without crictl; sandboxes, 300 × 90, is then empty), pod-processes 300 × 125, sockets 500 × 100, udp-sockets 100 ×
# 100, socket-totals 1,000 × 66, inbound 150 × 70, unavailable 40 × 320, meta and section lines under 1.6 kB: 488,400
# bytes, under runCommand's 512 kB ("The output for command invoke is limited to 512kB in size", AKS
# access-private-cluster). 300 namespaces and 1,300 trace totals hold a node at AKS's 250-pod maximum.
#
# Arguments are validated here; nothing from them is ever evaluated as shell text.
#   --seconds N          capture length, 1-300 (default 30)
#   --max-trace-rows N   keep at most N trace rows, 1-400 (default 400)
#   --max-socket-rows N  keep at most N TCP socket rows, 1-500 (default 500)
#   --max-per-source N   keep at most N destinations per source (a namespace's address and event type; a namespace's
#                        sockets in one state), 1-500 (default 25)
# Environment (for tests only): SNAT_PROBE_PROC (default /proc); SNAT_PROBE_TRACER, SNAT_PROBE_CRICTL and
# SNAT_PROBE_BPFTRACE, a path that is then the only candidate looked at (a missing or empty one: none is installed);
# SNAT_PROBE_MAX_KEYS, the distinct trace rows held in memory before the smallest are pruned (default 50000).
set -u
LC_ALL=C
export LC_ALL

SECONDS_ARG=30
MAX_TRACE_ROWS=400
MAX_SOCKET_ROWS=500
MAX_PER_SOURCE=25
MAX_KEYS=${SNAT_PROBE_MAX_KEYS:-50000}
case $MAX_KEYS in '' | *[!0-9]*) MAX_KEYS=50000 ;; esac
[ "$MAX_KEYS" -ge 2 ] 2>/dev/null || MAX_KEYS=2
PROC=${SNAT_PROBE_PROC:-/proc}

die() {
  echo "@@ error"
  echo "$1"
  echo "@@ end"
  exit 2
}

whole_number() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
    *) [ "${#1}" -le 6 ] ;;
  esac
}

while [ $# -gt 0 ]; do
  case $1 in
    --seconds)
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] && [ "$2" -le 300 ] || die "--seconds wants a whole number from 1 to 300"
      SECONDS_ARG=$2
      shift 2
      ;;
    --max-trace-rows)
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] && [ "$2" -le 400 ] || die "--max-trace-rows wants a whole number from 1 to 400"
      MAX_TRACE_ROWS=$2
      shift 2
      ;;
    --max-socket-rows)
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] && [ "$2" -le 500 ] || die "--max-socket-rows wants a whole number from 1 to 500"
      MAX_SOCKET_ROWS=$2
      shift 2
      ;;
    --max-per-source)
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] && [ "$2" -le 500 ] || die "--max-per-source wants a whole number from 1 to 500"
      MAX_PER_SOURCE=$2
      shift 2
      ;;
    *) die "unknown argument (expected --seconds N, --max-trace-rows N, --max-socket-rows N, --max-per-source N)" ;;
  esac
done

WORK=$(mktemp -d 2>/dev/null || echo "/tmp/snat-probe.$$")
mkdir -p "$WORK" || die "cannot create a work directory"
cleanup() {
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$WORK/unavailable"
unavailable() {
  # what<TAB>reason, one line each
  printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ' | cut -c1-300)" >>"$WORK/unavailable"
}

# ── Network namespaces of every process, in one pass over /proc (one ls, no fork per process) ──────────────────────
# Lines: PID INODE
ls -l "$PROC"/[0-9]*/ns/net 2>/dev/null |
  awk 'match($0, /\/[0-9]+\/ns\/net /) { pid = substr($0, RSTART + 1, RLENGTH - 9)
         if (match($0, /net:\[[0-9]+\]/)) print pid, substr($0, RSTART + 5, RLENGTH - 6) }' >"$WORK/pid-netns"
HOST_NETNS=$(readlink "$PROC/1/ns/net" 2>/dev/null | tr -dc '0-9')
[ -n "$HOST_NETNS" ] || HOST_NETNS=$(readlink "$PROC/self/ns/net" 2>/dev/null | tr -dc '0-9')

# Ports each namespace listens on (NETNS PORT(hex)), read before the trace starts: the trace's aggregation keys a close
# on such a port as inbound, by that port, rather than by each client's ephemeral port.
sort -n "$WORK/pid-netns" | awk '!seen[$2]++ { print $2, $1 }' | while read -r inode pid; do
  echo "@ $inode"
  cat "$PROC/$pid/net/tcp" "$PROC/$pid/net/tcp6" 2>/dev/null
done | awk '/^@ / { ns = $2; next } $4 == "0A" { n = split($2, l, ":"); print ns, toupper(l[n]) }' | sort -u >"$WORK/listeners"

# ── Which tracer: BCC's tcptracer, and only it ──────────────────────────────────────────────────────────────────────
# BCC's tcptracer is a Python script (iovisor/bcc tools/tcptracer.py, "#!/usr/bin/python"); its -v means "include
# Network Namespace in the output" and its header is "TYPE PID COMM IP SADDR DADDR SPORT DPORT NETNS". libbpf-tools ships
# a compiled program of the same name (iovisor/bcc libbpf-tools/tcptracer.c), found by `command -v tcptracer` where BCC
# is missing: its option table reads { "verbose", 'v', NULL, 0, "Verbose debug output" } (libbpf's debug log), and its
# header ("T PID COMM IP SADDR DADDR SPORT DPORT", print_events_header) has no NETNS column, so it is refused.
# Prints why a candidate is refused and fails, or succeeds silently.
bcc_tcptracer() {
  if [ "$(head -c 4 "$1" 2>/dev/null | tr -d '\177')" = ELF ]; then
    echo "$1 is a compiled program, libbpf-tools' tcptracer, not BCC's (a Python script): its -v is libbpf debug output and its output has no NETNS column"
    return 1
  fi
  case $(head -n 1 "$1" 2>/dev/null | cut -c1-200) in
    '#!'*python*) return 0 ;;
  esac
  # A wrapper script: BCC's argparse help describes -v by the column we need.
  timeout 10 "$1" --help 2>&1 | grep -q 'include Network Namespace' && return 0
  echo "$1 is not BCC's tcptracer (neither a Python script nor answering --help with -v \"include Network Namespace in the output\")"
  return 1
}
if [ -n "${SNAT_PROBE_TRACER:-}" ]; then
  set -- "$SNAT_PROBE_TRACER"
else
  set -- /usr/share/bcc/tools/tcptracer /usr/sbin/tcptracer-bpfcc /usr/bin/tcptracer-bpfcc \
    "$(command -v tcptracer 2>/dev/null)" "$(command -v tcptracer-bpfcc 2>/dev/null)"
fi
TRACER=
REFUSED=
for candidate in "$@"; do
  [ -f "$candidate" ] || continue
  if why=$(bcc_tcptracer "$candidate"); then
    TRACER=$candidate
    break
  fi
  [ -n "$REFUSED" ] || REFUSED=$why
done
# ── Else bpftrace on the sock:inet_sock_set_state tracepoint ─────────────────────────────────────────────────────────
# Where BCC cannot run (no kernel headers, no kprobes), a tracepoint still can. The programs below print tcptracer -v's
# format, so the same aggregation reads them. Each TCP state change is one event: CLOSE → SYN_SENT (in the connecting
# process: its PID and COMM are kept for the socket), SYN_SENT → ESTABLISHED a connect, SYN_SENT → CLOSE a connect that
# FAILED (refused, timed out: what exhaustion looks like from the node, which tcptracer never reports), SYN_RECV →
# ESTABLISHED an accept, and → CLOSE from an open state a close. SPORT is the tracepoint's sport, the socket's own
# (local) port, as in BCC's accept. (TCP states: include/net/tcp_states.h; the tracepoint: include/trace/events/sock.h,
# whose fields, protocol included, are there since 4.16.) Only integer tests and one literal printf per event and
# family: no string variables or ternaries, which older bpftrace handles badly.
#
# Which program depends on the version (bpftrace -V: "bpftrace v0.9.4"), from bpftrace's own changelog and sources:
#   0.12 and later   BPFTRACE_FULL, the socket's network namespace read through the kernel's BTF (used by default for
#                    tracepoint programs since 0.12; 0.11 needs -b).
#   0.11             BPFTRACE_FULL with -b.
#   0.10             none: its ntop() refuses the tracepoint's address arrays ("expects an integer or array argument,
#                    got ctx"; fixed in 0.11).
#   0.9.x            BPFTRACE_LITE (AKS's Ubuntu and Flatcar images install 0.9.4, Azure/AgentBaker
#                    vhdbuilder/scripts/linux/ubuntu/tool_installs_ubuntu.sh installBpftrace): its printf takes at most
#                    6 values and it resolves no `struct sock` without headers, so NETNS is printed 0; the aggregation
#                    then takes a connect's namespace from its process, and the workflow joins the rest by pod IP.
BPFTRACE_FULL='BEGIN
{
  printf("TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS\n");
}

tracepoint:sock:inet_sock_set_state
/args->protocol == 6/
{
  $sk = (struct sock *)args->skaddr;
  $ns = $sk->__sk_common.skc_net.net->ns.inum;
  $old = args->oldstate;
  $new = args->newstate;
  if ($old == 7 && $new == 2) {
    @pid[args->skaddr] = pid;
    @comm[args->skaddr] = comm;
  }
  if ($old == 2 && ($new == 1 || $new == 7)) {
    if (@pid[args->skaddr] == 0) {
      @pid[args->skaddr] = pid;
      @comm[args->skaddr] = comm;
    }
    if ($new == 1) {
      if (args->family == 2) {
        printf("connect %u %s 4 %s %s %u %u %u\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr), ntop(args->daddr), args->sport, args->dport, $ns);
      } else {
        printf("connect %u %s 6 %s %s %u %u %u\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport, $ns);
      }
    } else {
      if (args->family == 2) {
        printf("failed %u %s 4 %s %s %u %u %u\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr), ntop(args->daddr), args->sport, args->dport, $ns);
      } else {
        printf("failed %u %s 6 %s %s %u %u %u\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport, $ns);
      }
    }
    delete(@pid[args->skaddr]);
    delete(@comm[args->skaddr]);
  }
  if ($old == 3 && $new == 1) {
    if (args->family == 2) {
      printf("accept %u %s 4 %s %s %u %u %u\n", pid, comm, ntop(args->saddr), ntop(args->daddr), args->sport, args->dport, $ns);
    } else {
      printf("accept %u %s 6 %s %s %u %u %u\n", pid, comm, ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport, $ns);
    }
  }
  if ($new == 7 && $old != 2 && $old != 3 && $old != 7 && $old != 10) {
    if (args->family == 2) {
      printf("close %u %s 4 %s %s %u %u %u\n", pid, comm, ntop(args->saddr), ntop(args->daddr), args->sport, args->dport, $ns);
    } else {
      printf("close %u %s 6 %s %s %u %u %u\n", pid, comm, ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport, $ns);
    }
  }
}

END
{
  clear(@pid);
  clear(@comm);
}'
BPFTRACE_LITE='BEGIN
{
  printf("TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS\n");
}

tracepoint:sock:inet_sock_set_state
/args->protocol == 6/
{
  $old = args->oldstate;
  $new = args->newstate;
  if ($old == 7 && $new == 2) {
    @pid[args->skaddr] = pid;
    @comm[args->skaddr] = comm;
  }
  if ($old == 2 && ($new == 1 || $new == 7)) {
    if (@pid[args->skaddr] == 0) {
      @pid[args->skaddr] = pid;
      @comm[args->skaddr] = comm;
    }
    if ($new == 1) {
      if (args->family == 2) {
        printf("connect %u %s 4 %s %s %u %u 0\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr), ntop(args->daddr), args->sport, args->dport);
      } else {
        printf("connect %u %s 6 %s %s %u %u 0\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport);
      }
    } else {
      if (args->family == 2) {
        printf("failed %u %s 4 %s %s %u %u 0\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr), ntop(args->daddr), args->sport, args->dport);
      } else {
        printf("failed %u %s 6 %s %s %u %u 0\n", @pid[args->skaddr], @comm[args->skaddr], ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport);
      }
    }
    delete(@pid[args->skaddr]);
    delete(@comm[args->skaddr]);
  }
  if ($old == 3 && $new == 1) {
    if (args->family == 2) {
      printf("accept %u %s 4 %s %s %u %u 0\n", pid, comm, ntop(args->saddr), ntop(args->daddr), args->sport, args->dport);
    } else {
      printf("accept %u %s 6 %s %s %u %u 0\n", pid, comm, ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport);
    }
  }
  if ($new == 7 && $old != 2 && $old != 3 && $old != 7 && $old != 10) {
    if (args->family == 2) {
      printf("close %u %s 4 %s %s %u %u 0\n", pid, comm, ntop(args->saddr), ntop(args->daddr), args->sport, args->dport);
    } else {
      printf("close %u %s 6 %s %s %u %u 0\n", pid, comm, ntop(args->saddr_v6), ntop(args->daddr_v6), args->sport, args->dport);
    }
  }
}

END
{
  clear(@pid);
  clear(@comm);
}'
TRACER_KIND=bcc
BCC_MISSING=
if [ -z "$TRACER" ]; then
  BCC_MISSING=${REFUSED:-BCC tcptracer is not installed (looked for /usr/share/bcc/tools/tcptracer and tcptracer-bpfcc)}
  # Where the node images put it: PATH; /usr/local/bin (AKS Ubuntu x86_64), /usr/sbin (Ubuntu's package), /usr/bin
  # (Azure Linux's), /opt/bin (Flatcar).
  if [ -n "${SNAT_PROBE_BPFTRACE+set}" ]; then
    candidate=$SNAT_PROBE_BPFTRACE
  else
    candidate=$(command -v bpftrace 2>/dev/null || true)
    for path in /usr/local/bin/bpftrace /usr/sbin/bpftrace /usr/bin/bpftrace /opt/bin/bpftrace; do
      [ -n "$candidate" ] || { [ -x "$path" ] && candidate=$path; }
    done
  fi
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    set -- $(timeout 10 "$candidate" -V 2>/dev/null | head -n 1 |
      sed -n 's/^bpftrace v\{0,1\}\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
    BPFTRACE_VERSION=${1:-?}.${2:-?}
    BPFTRACE_PROGRAM=$BPFTRACE_FULL
    BPFTRACE_FLAGS=
    if [ $# -ne 2 ]; then
      REFUSED_BPFTRACE="$candidate is not used: it does not answer -V as bpftrace does (\"bpftrace v0.9.4\")"
    elif [ "$1" -eq 0 ] && [ "$2" -le 9 ]; then
      BPFTRACE_PROGRAM=$BPFTRACE_LITE
      unavailable "network namespace of trace events" "bpftrace $BPFTRACE_VERSION cannot read a socket's namespace (no BTF for tracepoint programs before 0.11, printf limited to 6 values): connects and failures are tied to pods through the connecting process, accepts and closes through the pod IP"
    elif [ "$1" -eq 0 ] && [ "$2" -eq 10 ]; then
      REFUSED_BPFTRACE="bpftrace 0.10 is not used: its ntop() refuses the tracepoint's address arrays (fixed in 0.11)"
    elif [ "$1" -eq 0 ] && [ "$2" -eq 11 ]; then
      BPFTRACE_FLAGS=-b
    fi
    if [ -z "${REFUSED_BPFTRACE:-}" ]; then
      TRACER=$candidate
      TRACER_KIND=bpftrace
    else
      unavailable tcptracer "$BCC_MISSING; $REFUSED_BPFTRACE: no connect trace, so churn is unknown; open sockets are still counted"
    fi
  else
    unavailable tcptracer "$BCC_MISSING; bpftrace is not installed either: no connect trace, so churn is unknown; open sockets are still counted"
  fi
fi

# rank SOURCE_FIELDS COUNT_FIELD PER_SOURCE LIMIT IN OUT: IN's rows, at most PER_SOURCE per source (the rows that agree
# on the fields SOURCE_FIELDS, e.g. "1,2") and LIMIT in all, the largest COUNT first, into OUT; what was left out is
# counted in OUT.cut ("DROPPED DROPPED_COUNT").
rank() {
  awk -v sf="$1" -v cf="$2" 'BEGIN { n = split(sf, f, ",") }
    { s = $(f[1]); for (i = 2; i <= n; i++) s = s "|" $(f[i]); print s, $cf, $0 }' "$5" |
    sort -k1,1 -k2,2nr |
    awk -v k="$3" -v drop="$6.drop" '
      { if ($1 != last) { last = $1; n = 0 }
        if (++n > k) { dropped++; dc += $2; next }
        line = $0; sub(/^[^ ]* [^ ]* /, "", line); print line }
      END { printf "%.0f %.0f\n", dropped, dc > drop }' |
    sort -k"$2","$2"nr |
    awk -v limit="$4" -v cf="$2" -v drop="$6.drop" -v cut="$6.cut" '
      NR <= limit { print; next }
      { dropped++; dc += $cf }
      END {
        if ((getline d < drop) > 0) { split(d, x, " "); dropped += x[1]; dc += x[2] }
        printf "%.0f %.0f\n", dropped, dc > cut
      }' >"$6"
}

# emit NAME FILE ROWS BYTES [COUNT_FIELD [PREAMBLE]]: the section, the PREAMBLE file's one line (the script's own),
# at most ROWS rows of FILE (already in the order that keeps what matters most), each cut to BYTES bytes, and a #cut
# line when rows were left out (FILE.cut, from rank, adds to them).
emit() {
  echo "@@ $1"
  [ -n "${6:-}" ] && head -n 1 "$6" | cut -c1-200
  awk -v rows="$3" -v bytes="$4" -v cf="${5:-0}" -v cut="$2.cut" '
    NR <= rows { print substr($0, 1, bytes); next }
    { dropped++; if (cf > 0) dc += $cf }
    END {
      kept = NR < rows ? NR : rows
      if ((getline d < cut) > 0) { split(d, x, " "); dropped += x[1]; dc += x[2] }
      if (dropped > 0) printf "#cut kept=%d dropped=%.0f dropped_count=%.0f\n", kept, dropped, dc
    }' "$2"
}

# Everything but the trace is collected in the background while the trace runs in the foreground: a non-interactive
# shell starts background commands with SIGINT ignored, and tcptracer (Python) then could not be ended by SIGINT,
# the one signal on which it flushes its output and exits cleanly.
collect() {
# ── Processes in pod cgroups: PID NETNS POD_UID CONTAINER_ID (cgroup v1 and v2, cgroupfs and systemd drivers) ─────────
grep -H kubepods "$PROC"/[0-9]*/cgroup 2>/dev/null |
  awk -v map="$WORK/pid-netns" '
    function hex(n,   r) { r = ""; while (n-- > 0) r = r "[0-9a-f]"; return r }
    BEGIN {
      while ((getline line < map) > 0) { split(line, f, " "); ns[f[1]] = f[2] }
      # mawk has no {n} intervals: spell the repetitions out.
      uidre = "pod" hex(8) "[-_]" hex(4) "[-_]" hex(4) "[-_]" hex(4) "[-_]" hex(12)
      cidre = hex(64)
    }
    {
      if (!match($0, /\/[0-9]+\/cgroup:/)) next
      pid = substr($0, RSTART + 1, RLENGTH - 9)
      if (seen[pid]++) next
      uid = ""; cid = ""
      if (match($0, uidre)) {
        uid = substr($0, RSTART + 3, RLENGTH - 3); gsub(/_/, "-", uid)
      }
      if (match($0, cidre)) cid = substr($0, RSTART, RLENGTH)
      if (uid != "" && (pid in ns)) print pid, ns[pid], uid, (cid == "" ? "-" : cid)
    }' | sort -n >"$WORK/pod-processes-all"
# The report keeps one process per pod (its lowest PID: a sandbox's first); every one is used here, to attribute the
# host namespace's sockets and trace rows to hostNetwork pods.
awk '!seen[$3]++' "$WORK/pod-processes-all" >"$WORK/pod-processes"

# ── Namespaces: INODE PID NPROCS COMMAND, from the pass above (PID: the namespace's lowest) ──────────────────────────
awk '{ n[$2]++; if (!($2 in first) || $1 + 0 < first[$2] + 0) first[$2] = $1 } END { for (i in n) print i, first[i], n[i] }' \
  "$WORK/pid-netns" | sort -n >"$WORK/netns"
while read -r inode pid nprocs; do
  comm=$(head -c 64 "$PROC/$pid/comm" 2>/dev/null | tr -d '\n' | tr ' ' '_')
  printf '%s %s %s %s\n' "$inode" "$pid" "$nprocs" "${comm:--}"
done <"$WORK/netns" >"$WORK/netns.out"

# iproute2 and CNI name namespaces under /var/run/netns, which on systemd hosts is /run/netns (/var/run → /run): each
# directory is listed once, by its real path, or every namespace would be listed twice.
SEEN_DIRS=
for dir in /run/netns /var/run/netns; do
  [ -d "$dir" ] || continue
  real=$(cd -P "$dir" 2>/dev/null && pwd -P) || continue
  case " $SEEN_DIRS " in *" $real "*) continue ;; esac
  SEEN_DIRS="$SEEN_DIRS $real"
  for file in "$dir"/*; do
    [ -e "$file" ] || continue
    printf '%s %s\n' "$(stat -L -c %i "$file" 2>/dev/null || echo 0)" "$file"
  done
done | sort -u -k2,2 >"$WORK/netns-files"

# ── Pod sandboxes: crictl when present, pstree of the namespaces' PIDs otherwise ─────────────────────────────────────
if [ -n "${SNAT_PROBE_CRICTL+set}" ]; then
  CRICTL=
  [ -n "$SNAT_PROBE_CRICTL" ] && [ -x "$SNAT_PROBE_CRICTL" ] && CRICTL=$SNAT_PROBE_CRICTL
else
  CRICTL=$(command -v crictl 2>/dev/null || true)
  [ -n "$CRICTL" ] || { [ -x /usr/local/bin/crictl ] && CRICTL=/usr/local/bin/crictl; }
fi
: >"$WORK/sandboxes"
: >"$WORK/pstree"
if [ -n "$CRICTL" ]; then
  ENDPOINT=unix:///run/containerd/containerd.sock
  if "$CRICTL" -r "$ENDPOINT" pods -q --state ready 2>"$WORK/crictl.err" | head -n 1000 >"$WORK/sandbox-ids" &&
    [ ! -s "$WORK/crictl.err" ]; then
    while read -r id; do
      case $id in *[!0-9a-f]* | '') continue ;; esac
      pid=$("$CRICTL" -r "$ENDPOINT" inspectp -o go-template --template '{{.info.pid}}' "$id" 2>/dev/null | head -c 32 | tr -dc '0-9')
      netns=-
      [ -n "$pid" ] && netns=$(readlink "$PROC/$pid/ns/net" 2>/dev/null | tr -dc '0-9')
      printf '%s %s %s\n' "$id" "${pid:--}" "${netns:--}"
    done <"$WORK/sandbox-ids" >"$WORK/sandboxes"
  else
    unavailable crictl "$(head -n 1 "$WORK/crictl.err")"
  fi
else
  unavailable crictl "not installed: sandboxes are mapped with pstree instead"
fi
if [ ! -s "$WORK/sandboxes" ]; then
  if command -v pstree >/dev/null 2>&1; then
    # Only the containerd shim's line is kept for each namespace, without its tree drawing and up to its -id (which
    # names the sandbox): the rest of the tree says nothing more and would make the report grow with every process.
    while read -r inode pid rest; do
      [ "$inode" = "$HOST_NETNS" ] && continue
      line=$(pstree -apsl "$pid" 2>/dev/null | head -n 40 |
        sed -n 's/^[ |`-]*\(containerd-shim[^ ]* .*-id [0-9a-f][0-9a-f]*\).*/\1/p' | head -n 1)
      [ -n "$line" ] || continue
      echo "# netns $inode pid $pid"
      printf '%s\n' "$line"
    done <"$WORK/netns" >"$WORK/pstree"
  else
    unavailable pstree "not installed: pod sandboxes are known only through the pod cgroups"
  fi
fi

# ── Sockets of every namespace, aggregated: NETNS STATE REMOTE(hex as the kernel prints it) COUNT [POD_UID] ────────
# Host-namespace sockets are attributed to hostNetwork pods by socket inode (their processes' fds).
awk -v host="$HOST_NETNS" '$2 == host { print $1, $3 }' "$WORK/pod-processes-all" | while read -r pid uid; do
  ls -l "$PROC/$pid/fd" 2>/dev/null | awk -v uid="$uid" 'match($0, /socket:\[[0-9]+\]/) { print substr($0, RSTART + 8, RLENGTH - 9), uid }'
done >"$WORK/host-socket-owners"

# Rows of every namespace's tables, TCP (tcp, tcp6) and UDP (udp, udp6) apart: NETNS STATE REMOTE INODE LOCAL_PORT(hex).
# A namespace's tables are read through one of its processes, and one that exited since the scan above took its
# /proc/PID/net with it: the lowest PID is tried first (in a pod, usually the pause process, which lives as long as the
# pod), then the others. A PID counts only if it is still in that namespace after the read (a PID freed and reused
# elsewhere would show another namespace's tables). tcp6 and udp{,6} may be missing (IPv6 disabled): tcp may not.
sort -n "$WORK/pid-netns" | awk '{ pids[$2] = pids[$2] " " $1 } END { for (ns in pids) print ns pids[ns] }' >"$WORK/netns-pids"
: >"$WORK/tcp-rows"
: >"$WORK/udp-rows"
while read -r inode pids; do
  read_through=
  tried=0
  for pid in $pids; do
    tried=$((tried + 1))
    dir=$PROC/$pid
    [ -r "$dir/net/tcp" ] || continue
    set -- "$dir/net/tcp"
    for table in tcp6 udp udp6; do
      [ -r "$dir/net/$table" ] && set -- "$@" "$dir/net/$table"
    done
    : >"$WORK/ns-tcp"
    : >"$WORK/ns-udp"
    awk -v ns="$inode" -v tcp="$WORK/ns-tcp" -v udp="$WORK/ns-udp" '
      FNR == 1 { out = FILENAME ~ /udp6?$/ ? udp : tcp }
      $1 ~ /^[0-9]+:$/ { n = split($2, l, ":"); print ns, $4, $3, $10, l[n] >> out }' "$@" 2>/dev/null || continue
    [ "$(readlink "$dir/ns/net" 2>/dev/null | tr -dc '0-9')" = "$inode" ] || continue
    # The kernel prints a table in pieces, one read() at a time, and a socket that moves in its hash table between two
    # of them is printed twice: each socket is counted once, by its inode (TIME_WAIT sockets have none, inode 0).
    awk '$4 == 0 || !seen[$4]++' "$WORK/ns-tcp" >>"$WORK/tcp-rows"
    awk '$4 == 0 || !seen[$4]++' "$WORK/ns-udp" >>"$WORK/udp-rows"
    read_through=$pid
    break
  done
  [ -n "$read_through" ] ||
    unavailable "sockets of netns $inode" "every process in it exited before the snapshot ($tried tried): its sockets are not counted"
done <"$WORK/netns-pids"
# … aggregated by namespace, state, remote endpoint and (in the host namespace) owning pod, with exact totals per
# namespace, protocol, state and owning pod (PROTO NETNS STATE REMOTE INODE → PROTO and the aggregated rows).
aggregate_sockets() {
  awk -v host="$HOST_NETNS" -v owners="$WORK/host-socket-owners" -v proto="$1" -v totals="$WORK/socket-totals.all" '
    BEGIN { while ((getline line < owners) > 0) { split(line, f, " "); owner[f[1]] = f[2] } }
    {
      uid = ($1 == host && ($4 in owner)) ? owner[$4] : ""
      c[$1 " " $2 " " $3 (uid == "" ? "" : " " uid)]++
      t[$1 " " proto " " $2 (uid == "" ? "" : " " uid)]++
    }
    END {
      for (k in c) { split(k, f, " "); print f[1], f[2], f[3], c[k] (f[4] == "" ? "" : " " f[4]) }
      for (k in t) { split(k, f, " "); print f[1], f[2], f[3], t[k] (f[4] == "" ? "" : " " f[4]) >> totals }
    }'
}
: >"$WORK/socket-totals.all"
# A TCP socket whose local port is one its namespace listens on was accepted: an inbound connection, which takes no
# SNAT port (the load balancer's inbound rule or kube-proxy translated it on the way in). Those are counted per
# namespace and listening port (NETNS PORT(hex) COUNT [POD_UID]), not per client, and the listeners themselves (0A)
# are left out.
awk 'FNR == NR { if ($2 == "0A") listening[$1 " " $5] = 1; next } !(($1 " " $5) in listening)' \
  "$WORK/tcp-rows" "$WORK/tcp-rows" | aggregate_sockets tcp >"$WORK/sockets.all"
rank 1,2,5 4 "$MAX_PER_SOURCE" "$MAX_SOCKET_ROWS" "$WORK/sockets.all" "$WORK/sockets"
awk -v host="$HOST_NETNS" -v owners="$WORK/host-socket-owners" '
  BEGIN { while ((getline line < owners) > 0) { split(line, f, " "); owner[f[1]] = f[2] } }
  FNR == NR { if ($2 == "0A") listening[$1 " " $5] = 1; next }
  $2 != "0A" && (($1 " " $5) in listening) {
    uid = ($1 == host && ($4 in owner)) ? owner[$4] : ""
    c[$1 " " $5 (uid == "" ? "" : " " uid)]++
  }
  END { for (k in c) { split(k, f, " "); print f[1], f[2], c[k] (f[3] == "" ? "" : " " f[3]) } }' \
  "$WORK/tcp-rows" "$WORK/tcp-rows" | sort -k3,3nr >"$WORK/inbound"
# Connected UDP sockets (state 01, the kernel's TCP_ESTABLISHED, which a UDP socket takes on connect()): the only
# ones that name a destination. The load balancer gives UDP one SNAT port per destination IP.
awk '$2 == "01"' "$WORK/udp-rows" | aggregate_sockets udp >"$WORK/udp-sockets.all"
rank 1,2,5 4 "$MAX_PER_SOURCE" 100 "$WORK/udp-sockets.all" "$WORK/udp-sockets"
sort -k4,4nr "$WORK/socket-totals.all" >"$WORK/socket-totals"
rm -f "$WORK/tcp-rows" "$WORK/udp-rows" "$WORK/sockets.all" "$WORK/udp-sockets.all"
}

collect &
COLLECTOR=$!
: >"$WORK/trace-rows.all"
: >"$WORK/trace-sources"
: >"$WORK/trace-head"
: >"$WORK/trace-header"
: >"$WORK/trace.err"
echo "events=0 skipped=0 lost=0" >"$WORK/trace-stats"
# Seconds since boot, to a hundredth (whole seconds where /proc/uptime cannot be read).
now() {
  awk '{ print $1; exit }' /proc/uptime 2>/dev/null || date +%s
}

# The trace, aggregated as it streams (the raw events are never written anywhere). Lines before the header are kept
# (40 at most) for tracer_error. Each event is counted exactly in its source's total (NETNS SADDR TYPE) and in its
# row: TYPE SADDR DADDR DPORT NETNS for a connection the namespace made; for an inbound one (an accept, or a close on a
# port the namespace listens on or accepted on), TYPE SADDR * LOCAL_PORT NETNS, every client together. BCC's accept
# has SPORT = the local port (tools/tcptracer.py: evt4.sport = lport, evt4.dport = the peer's), and so has the
# bpftrace program. At most MAX_KEYS rows are held: past that, the rows with the fewest events are pruned (their
# events stay in the sources' totals), and a row kept then may count up to prune_floor events too few.
# mawk (Ubuntu's awk) fills its whole input buffer before it reads a line, so the header's time would be when the
# buffer filled or the trace ended; -W interactive makes it read line by line (gawk and busybox awk always do).
STREAM_FLAGS=
case $(awk -W version 2>/dev/null | head -n 1) in mawk*) STREAM_FLAGS="-W interactive" ;; esac
aggregate_trace() {
  # shellcheck disable=SC2086 # STREAM_FLAGS is two words or none
  awk $STREAM_FLAGS -v listeners="$WORK/listeners" -v head="$WORK/trace-head" -v hdr="$WORK/trace-header" \
    -v stats="$WORK/trace-stats" -v rows="$WORK/trace-rows.all" -v sources="$WORK/trace-sources" -v maxkeys="$MAX_KEYS" \
    -v traced="$WORK/trace-started" -v pidns="$WORK/pid-netns" '
    function prune(   k, target) {
      target = int(maxkeys / 2)
      while (nkeys > target) {
        floor++
        for (k in c) if (c[k] <= floor) {
          pruned += c[k]; nkeys--
          delete c[k]; delete pids[k]; delete np[k]; delete comms[k]; delete nc[k]
        }
      }
    }
    BEGIN {
      while ((getline line < listeners) > 0) inport[line] = 1
      while ((getline line < pidns) > 0) { split(line, f, " "); nsof[f[1]] = f[2] }
    }
    !header {
      if ($1 == "TYPE" && $2 == "PID" && $3 == "COMM") {
        # The tracer is attached once it prints its header: the trace covers from then on (seconds since boot).
        header = 1; print substr($0, 1, 300) > hdr
        if ((getline up < "/proc/uptime") > 0) { split(up, u, " "); print u[1] > traced }
        next
      }
      if (nhead++ < 40) print substr($0, 1, 300) > head
      next
    }
    NF >= 9 && $1 ~ /^(connect|accept|close|failed|unknown)$/ && $2 ~ /^[0-9]+$/ && $NF ~ /^[0-9]+$/ &&
      $(NF - 1) ~ /^[0-9]+$/ && $(NF - 2) ~ /^[0-9]+$/ {
      events++
      type = $1; ns = $NF; sport = $(NF - 2); dport = $(NF - 1)
      # A tracer that could not read the namespace (bpftrace 0.9) prints 0: a connect happens in its process, whose
      # namespace the scan before the trace knew (an accept or close may run in any context: left 0, joined by IP).
      if (ns == 0 && (type == "connect" || type == "failed") && ($2 in nsof)) ns = nsof[$2]
      saddr = $(NF - 4); daddr = $(NF - 3); gsub(/[][]/, "", saddr); gsub(/[][]/, "", daddr)
      if (type == "accept") inport[ns " " sprintf("%04X", sport)] = 1
      if (type == "accept" || (type == "close" && ((ns " " sprintf("%04X", sport)) in inport))) { daddr = "*"; dport = sport }
      comm = $3; for (i = 4; i <= NF - 6; i++) comm = comm " " $i
      gsub(/[ ,]/, "_", comm)
      total[ns " " saddr " " type]++
      k = type " " saddr " " daddr " " dport " " ns
      if (!(k in c)) { if (nkeys >= maxkeys) prune(); nkeys++ }
      c[k]++
      if (np[k] < 3 && index("," pids[k] ",", "," $2 ",") == 0) { pids[k] = (np[k]++ ? pids[k] "," : "") $2 }
      if (nc[k] < 3 && index("," comms[k] ",", "," comm ",") == 0) { comms[k] = (nc[k]++ ? comms[k] "," : "") comm }
      next
    }
    /^Attaching [0-9]+ probes?/ || /^[ \t]*$/ { next }
    /Possibly lost [0-9]+ samples/ || /^Lost [0-9]+ events/ { if (match($0, /[0-9]+/)) lost += substr($0, RSTART, RLENGTH); next }
    { skipped++ }
    END {
      for (k in c) print c[k], k, pids[k], comms[k] > rows
      for (s in total) print s, total[s] > sources
      printf "events=%.0f skipped=%.0f lost=%.0f pruned=%.0f prune_floor=%.0f\n", events, skipped, lost, pruned, floor > stats
    }'
}

# The first line of the tracer's output that says why it failed. BCC prints some causes on stdout, before its header
# (its loader.cc writes "Unable to find kernel headers. …" with std::cout), others on stderr (libbpf.c's "cannot attach
# kprobe, …", clang's errors), and Python then adds a traceback whose last line is only the consequence ("Exception:
# Failed to compile BPF module <text>"). So: stdout before the header, then stderr, without the traceback's frames,
# and with libbpf's chatter, modprobe's and warnings only when nothing else was said.
tracer_error() {
  { cat "$WORK/trace-head"; head -n 200 "$WORK/trace.err"; } | awk '
    /^[ \t]*$/ || /^[ \t]/ || /^Traceback \(most recent call last\):/ || /^During handling of the above exception/ { next }
    /^The above exception was the direct cause/ || /Possibly lost/ || /^Tracing TCP/ || /^Attaching [0-9]+ probe/ { next }
    /^libbpf: / || /modprobe/ || /RLIMIT_MEMLOCK/ || tolower($0) ~ /warning/ { if (weak == "") weak = $0; next }
    cause == "" { cause = $0 }
    END { print (cause != "" ? cause : weak) }' 2>/dev/null
}
TRACED_SECONDS=0
if [ -n "$TRACER" ]; then
  STARTED=$(now)
  {
    if [ "$TRACER_KIND" = bpftrace ]; then
      # Ended by SIGINT too: bpftrace then runs END and flushes what it printed.
      # shellcheck disable=SC2086 # BPFTRACE_FLAGS is one word or none
      timeout -s INT -k 10 "$SECONDS_ARG" "$TRACER" $BPFTRACE_FLAGS -e "$BPFTRACE_PROGRAM" 2>"$WORK/trace.err"
    else
      # -v: long type names and the NETNS column. Unbuffered, and ended by SIGINT: nothing is lost.
      PYTHONUNBUFFERED=1 timeout -s INT -k 10 "$SECONDS_ARG" "$TRACER" -v 2>"$WORK/trace.err"
    fi
    echo $? >"$WORK/trace.status"
  } | aggregate_trace
  STATUS=$(tr -dc '0-9' <"$WORK/trace.status")
  # Perf buffer losses reported on stderr (BCC: "Possibly lost N samples"; bpftrace: "Lost N events").
  set -- $(head -n 100000 "$WORK/trace.err" | awk '/Possibly lost [0-9]+ samples/ || /Lost [0-9]+ events/ {
      if (match($0, /[0-9]+/)) lost += substr($0, RSTART, RLENGTH) } END { print lost + 0 }')
  [ "${1:-0}" -gt 0 ] && awk -v more="$1" '{ sub(/lost=[0-9]+/, "lost=" (substr($0, index($0, "lost=") + 5) + more)); print }' \
    "$WORK/trace-stats" >"$WORK/trace-stats.new" && mv "$WORK/trace-stats.new" "$WORK/trace-stats"
  # RAN: how long it ran, to a tenth, at most the capture; ENDED: "early" when it ended before the capture did. GNU
  # timeout exits 124 when it ended the capture (137 when the tracer needed SIGKILL); any other status is the tracer's
  # own, and a tracer that had already run the whole capture (busybox timeout passes its status on) ended with it.
  # TRACED: how long it traced, from its header (printed once attached: bpftrace compiles and attaches for a second
  # or two, BCC longer) to its end; connect rates are per this.
  ATTACHED=$(head -c 32 "$WORK/trace-started" 2>/dev/null | tr -dc '0-9.')
  set -- $(awk -v a="$STARTED" -v h="${ATTACHED:-}" -v b="$(now)" -v s="$SECONDS_ARG" -v status="${STATUS:-1}" 'BEGIN {
    e = b - a; early = (status != 124 && status != 137 && e < s)
    if (e > s) e = s
    if (e < 0) e = 0
    t = (h == "" ? e : b - h)
    if (t > e) t = e
    if (t < 0) t = 0
    print int(e * 10 + 0.5) / 10, (early ? "early" : "end"), int(t * 10 + 0.5) / 10 }')
  RAN=$1
  ENDED=$2
  TRACED=$3
  HEADER=$(head -n 1 "$WORK/trace-header")
  FAILED=
  if [ -z "$HEADER" ]; then
    if [ "$ENDED" = early ]; then
      FAILED="exited with status $STATUS after $RAN s, before it traced anything"
    else
      FAILED="printed no header line (TYPE … PID … COMM) in $SECONDS_ARG s, so it never traced"
    fi
  else
    case $HEADER in
      *NETNS*)
        TRACED_SECONDS=$TRACED
        if [ "$ENDED" = early ] && [ "$STATUS" -ne 0 ]; then
          FAILED="exited with status $STATUS after tracing $TRACED s of $SECONDS_ARG s (what it printed is kept)"
        elif [ "$ENDED" = early ]; then
          unavailable tcptracer "stopped on its own after tracing $TRACED s of $SECONDS_ARG s: later connects were not traced"
        fi
        ;;
      *) FAILED="printed a header without the NETNS column, so it is not BCC's tcptracer -v" ;;
    esac
  fi
  # A failed tracer is reported as none (tracer=no); events it printed before dying are real and kept, and
  # traced_seconds says how long they cover.
  if [ -n "$FAILED" ]; then
    CAUSE=$(tracer_error | cut -c1-220)
    if [ "$TRACER_KIND" = bpftrace ]; then
      unavailable tcptracer "$BCC_MISSING; bpftrace $FAILED: ${CAUSE:-it printed no error}"
    else
      unavailable tcptracer "$FAILED: ${CAUSE:-it printed no error}"
    fi
    TRACER=
  fi
fi
wait "$COLLECTOR"

# The trace's rows, at most MAX_PER_SOURCE per source and MAX_TRACE_ROWS in all; in the host namespace, a row's
# PIDs name the hostNetwork pod whose cgroup holds them, appended as POD_UID.
rank 6,3,2 1 "$MAX_PER_SOURCE" "$MAX_TRACE_ROWS" "$WORK/trace-rows.all" "$WORK/trace-rows.ranked"
awk -v host="$HOST_NETNS" -v owners="$WORK/pod-processes-all" '
  BEGIN { while ((getline line < owners) > 0) { split(line, f, " "); if (f[2] == host) uid[f[1]] = f[3] } }
  {
    owner = ""
    if ($6 == host) { n = split($7, p, ","); for (i = 1; i <= n && owner == ""; i++) if (p[i] in uid) owner = uid[p[i]] }
    print $0 (owner == "" ? "" : " " owner)
  }' "$WORK/trace-rows.ranked" >"$WORK/trace-rows"
[ -f "$WORK/trace-rows.ranked.cut" ] && mv "$WORK/trace-rows.ranked.cut" "$WORK/trace-rows.cut"
sort -k4,4nr "$WORK/trace-sources" >"$WORK/trace-sources.sorted"

# ── The report ──────────────────────────────────────────────────────────────────────────────────────────────────────
echo "@@ snat-doctor-probe 1"
echo "@@ meta"
echo "node=$(hostname 2>/dev/null | tr -dc 'A-Za-z0-9.-' | cut -c1-63)"
echo "seconds=$SECONDS_ARG"
echo "traced_seconds=$TRACED_SECONDS"
echo "host_netns=${HOST_NETNS:-0}"
echo "kernel=$(uname -r 2>/dev/null | tr -dc 'A-Za-z0-9._+-' | cut -c1-100)"
echo "tracer=$([ -n "$TRACER" ] && echo yes || echo no)"
echo "tracer_kind=$([ -n "$TRACER" ] && echo "$TRACER_KIND" || echo none)"
[ "$TRACER_KIND" = bpftrace ] && echo "tracer_version=$(printf '%s' "${BPFTRACE_VERSION:-?}" | tr -dc '0-9.?')"
echo "crictl=$([ -s "$WORK/sandboxes" ] && echo yes || echo no)"
echo "max_trace_rows=$MAX_TRACE_ROWS"
echo "max_socket_rows=$MAX_SOCKET_ROWS"
echo "max_per_source=$MAX_PER_SOURCE"
sed 's/^/# /' "$WORK/trace-stats" >"$WORK/trace-stats-line"
emit trace "$WORK/trace-rows" "$MAX_TRACE_ROWS" 230 1 "$WORK/trace-stats-line"
emit trace-sources "$WORK/trace-sources.sorted" 1300 70 4
emit netns "$WORK/netns.out" 300 50
emit netns-files "$WORK/netns-files" 300 80
emit sandboxes "$WORK/sandboxes" 300 90
emit pstree "$WORK/pstree" 600 130
emit pod-processes "$WORK/pod-processes" 300 125
emit sockets "$WORK/sockets" "$MAX_SOCKET_ROWS" 100 4
emit udp-sockets "$WORK/udp-sockets" 100 100 4
emit socket-totals "$WORK/socket-totals" 1000 66 4
emit inbound "$WORK/inbound" 150 70 3
emit unavailable "$WORK/unavailable" 40 320
echo "@@ end"
