#!/bin/sh
# snat-doctor node probe. Runs on an AKS node (Ubuntu or Azure Linux) in the host's namespaces — the probe pod starts
# it with `nsenter -t 1 -m -u -i -n -p -- sh -c SCRIPT probe ARGS`, this text being SCRIPT (lib/probe/probePod.ts) — and
# prints one compact, sectioned report (parsed by lib/probe/probeReport.ts):
#   meta           node, seconds (asked for), traced_seconds (how long tcptracer really traced), tracer=yes|no, …
#   trace          tcptracer's events for SECONDS, aggregated here (never the raw stream: runCommand output is capped)
#   netns          network namespaces: inode, lowest PID, process count, command (one pass over /proc; no lsns)
#   netns-files    named network namespaces (/run/netns/cni-…) → inode
#   sandboxes      pod sandbox id → pause PID → netns inode (crictl), or pstree of the namespaces' PIDs without crictl
#   pod-processes  PID → netns, pod uid, container id, from the kubepods cgroups (attributes hostNetwork pods)
#   sockets        every namespace's TCP table (/proc/PID/net/tcp{,6}) aggregated by state and remote endpoint
#   udp-sockets    every namespace's connected UDP sockets (/proc/PID/net/udp{,6}), the same way
#   inbound        accepted TCP connections (local port = one the namespace listens on), per namespace and port
#   unavailable    what could not be used, and why
#
# Arguments are validated here; nothing from them is ever evaluated as shell text.
#   --seconds N          capture length, 1-300 (default 30)
#   --max-trace-rows N   keep at most N aggregated trace rows, largest first (default 4000)
#   --max-socket-rows N  keep at most N aggregated socket rows, largest first (default 4000)
# Environment (for tests only): SNAT_PROBE_PROC (default /proc); SNAT_PROBE_TRACER and SNAT_PROBE_CRICTL, a path that
# is then the only candidate looked at (a missing one: none is installed).
set -u
LC_ALL=C
export LC_ALL

SECONDS_ARG=30
MAX_TRACE_ROWS=4000
MAX_SOCKET_ROWS=4000
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
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] || die "--max-trace-rows wants a whole number from 1"
      MAX_TRACE_ROWS=$2
      shift 2
      ;;
    --max-socket-rows)
      [ $# -ge 2 ] && whole_number "$2" && [ "$2" -ge 1 ] || die "--max-socket-rows wants a whole number from 1"
      MAX_SOCKET_ROWS=$2
      shift 2
      ;;
    *) die "unknown argument (expected --seconds N, --max-trace-rows N, --max-socket-rows N)" ;;
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
# Where BCC cannot run (no kernel headers, no kprobes), a tracepoint and the kernel's BTF still can: the program below
# prints tcptracer -v's format, so the same aggregation reads it. Each TCP state change is one event: CLOSE → SYN_SENT
# (in the connecting process: its PID and COMM are kept for the socket), SYN_SENT → ESTABLISHED a connect, SYN_SENT →
# CLOSE a connect that FAILED (refused, timed out: what exhaustion looks like from the node, which tcptracer never
# reports), SYN_RECV → ESTABLISHED an accept, and → CLOSE from an open state a close. An accepted socket's ports are
# printed swapped (DPORT = the local listening port), so that inbound traffic aggregates by the port it came to, not
# by each client's ephemeral port. The socket's network namespace is read through BTF. (TCP states:
# include/net/tcp_states.h; the tracepoint: include/trace/events/sock.h.)
BPFTRACE_PROGRAM='BEGIN
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
  $type = "";
  $pid = pid;
  $comm = comm;
  $sport = args->sport;
  $dport = args->dport;
  if ($old == 7 && $new == 2) {
    @pid[args->skaddr] = pid;
    @comm[args->skaddr] = comm;
  }
  if ($old == 2 && ($new == 1 || $new == 7)) {
    $type = $new == 1 ? "connect" : "failed";
    if (@pid[args->skaddr] != 0) {
      $pid = @pid[args->skaddr];
      $comm = @comm[args->skaddr];
    }
    delete(@pid[args->skaddr]);
    delete(@comm[args->skaddr]);
  }
  if ($old == 3 && $new == 1) {
    $type = "accept";
    @accepted[args->skaddr] = 1;
  }
  if ($new == 7 && $old != 2 && $old != 3 && $old != 7 && $old != 10) {
    $type = "close";
  }
  if (@accepted[args->skaddr] != 0) {
    $sport = args->dport;
    $dport = args->sport;
    if ($type == "close") {
      delete(@accepted[args->skaddr]);
    }
  }
  if ($type != "") {
    if (args->family == 2) {
      printf("%s %d %s 4 %s %s %d %d %u\n", $type, $pid, $comm, ntop(args->saddr), ntop(args->daddr), $sport, $dport, $ns);
    } else {
      printf("%s %d %s 6 %s %s %d %d %u\n", $type, $pid, $comm, ntop(args->saddr_v6), ntop(args->daddr_v6), $sport, $dport, $ns);
    }
  }
}

END
{
  clear(@pid);
  clear(@comm);
  clear(@accepted);
}
'
TRACER_KIND=bcc
BCC_MISSING=
if [ -z "$TRACER" ]; then
  BCC_MISSING=${REFUSED:-BCC tcptracer is not installed (looked for /usr/share/bcc/tools/tcptracer and tcptracer-bpfcc)}
  if [ -n "${SNAT_PROBE_BPFTRACE+set}" ]; then
    candidate=$SNAT_PROBE_BPFTRACE
  else
    candidate=$(command -v bpftrace 2>/dev/null || true)
    [ -n "$candidate" ] || { [ -x /usr/local/bin/bpftrace ] && candidate=/usr/local/bin/bpftrace; }
  fi
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    TRACER=$candidate
    TRACER_KIND=bpftrace
  else
    unavailable tcptracer "$BCC_MISSING; bpftrace is not installed either: no connect trace, so churn is unknown; open sockets are still counted"
  fi
fi

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
    }' >"$WORK/pod-processes"

# ── Namespaces: INODE PID NPROCS COMMAND, from the pass above (PID: the namespace's lowest) ──────────────────────────
awk '{ n[$2]++; if (!($2 in first) || $1 + 0 < first[$2] + 0) first[$2] = $1 } END { for (i in n) print i, first[i], n[i] }' \
  "$WORK/pid-netns" | sort -n >"$WORK/netns"
while read -r inode pid nprocs; do
  comm=$(tr -d '\n' <"$PROC/$pid/comm" 2>/dev/null || true)
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
if [ -n "${SNAT_PROBE_CRICTL:-}" ]; then
  CRICTL=
  [ -x "$SNAT_PROBE_CRICTL" ] && CRICTL=$SNAT_PROBE_CRICTL
else
  CRICTL=$(command -v crictl 2>/dev/null || true)
  [ -n "$CRICTL" ] || { [ -x /usr/local/bin/crictl ] && CRICTL=/usr/local/bin/crictl; }
fi
: >"$WORK/sandboxes"
: >"$WORK/pstree"
if [ -n "$CRICTL" ]; then
  ENDPOINT=unix:///run/containerd/containerd.sock
  if "$CRICTL" -r "$ENDPOINT" pods -q --state ready >"$WORK/sandbox-ids" 2>"$WORK/crictl.err"; then
    while read -r id; do
      case $id in *[!0-9a-f]* | '') continue ;; esac
      pid=$("$CRICTL" -r "$ENDPOINT" inspectp -o go-template --template '{{.info.pid}}' "$id" 2>/dev/null | tr -dc '0-9')
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
    while read -r inode pid rest; do
      [ "$inode" = "$HOST_NETNS" ] && continue
      echo "# netns $inode pid $pid"
      pstree -apsl "$pid" 2>/dev/null | head -n 40
    done <"$WORK/netns" >"$WORK/pstree"
  else
    unavailable pstree "not installed: pod sandboxes are known only through the pod cgroups"
  fi
fi

# ── Sockets of every namespace, aggregated: NETNS STATE REMOTE(hex as the kernel prints it) COUNT [POD_UID] ────────
# Host-namespace sockets are attributed to hostNetwork pods by socket inode (their processes' fds).
awk -v host="$HOST_NETNS" '$2 == host { print $1 }' "$WORK/pod-processes" | while read -r pid; do
  uid=$(awk -v p="$pid" '$1 == p { print $3; exit }' "$WORK/pod-processes")
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
    cat "$WORK/ns-tcp" >>"$WORK/tcp-rows"
    cat "$WORK/ns-udp" >>"$WORK/udp-rows"
    read_through=$pid
    break
  done
  [ -n "$read_through" ] ||
    unavailable "sockets of netns $inode" "every process in it exited before the snapshot ($tried tried): its sockets are not counted"
done <"$WORK/netns-pids"
# … aggregated by namespace, state, remote endpoint and (in the host namespace) owning pod.
aggregate_sockets() {
  awk -v host="$HOST_NETNS" -v owners="$WORK/host-socket-owners" '
    BEGIN { while ((getline line < owners) > 0) { split(line, f, " "); owner[f[1]] = f[2] } }
    {
      uid = ($1 == host && ($4 in owner)) ? owner[$4] : ""
      c[$1 " " $2 " " $3 (uid == "" ? "" : " " uid)]++
    }
    END { for (k in c) { split(k, f, " "); print f[1], f[2], f[3], c[k] (f[4] == "" ? "" : " " f[4]) } }' |
    sort -k4,4nr | head -n "$MAX_SOCKET_ROWS"
}
# A TCP socket whose local port is one its namespace listens on was accepted: an inbound connection, which takes no
# SNAT port (the load balancer's inbound rule or kube-proxy translated it on the way in). Those are counted per
# namespace and listening port (NETNS PORT(hex) COUNT [POD_UID]), not per client, and the listeners themselves (0A)
# are left out.
awk 'FNR == NR { if ($2 == "0A") listening[$1 " " $5] = 1; next } !(($1 " " $5) in listening)' \
  "$WORK/tcp-rows" "$WORK/tcp-rows" | aggregate_sockets >"$WORK/sockets"
awk -v host="$HOST_NETNS" -v owners="$WORK/host-socket-owners" '
  BEGIN { while ((getline line < owners) > 0) { split(line, f, " "); owner[f[1]] = f[2] } }
  FNR == NR { if ($2 == "0A") listening[$1 " " $5] = 1; next }
  $2 != "0A" && (($1 " " $5) in listening) {
    uid = ($1 == host && ($4 in owner)) ? owner[$4] : ""
    c[$1 " " $5 (uid == "" ? "" : " " uid)]++
  }
  END { for (k in c) { split(k, f, " "); print f[1], f[2], c[k] (f[3] == "" ? "" : " " f[3]) } }' \
  "$WORK/tcp-rows" "$WORK/tcp-rows" | sort -k3,3nr | head -n "$MAX_SOCKET_ROWS" >"$WORK/inbound"
# Connected UDP sockets (state 01, the kernel's TCP_ESTABLISHED, which a UDP socket takes on connect()): the only
# ones that name a destination. The load balancer gives UDP one SNAT port per destination IP.
awk '$2 == "01"' "$WORK/udp-rows" | aggregate_sockets >"$WORK/udp-sockets"

}

collect &
COLLECTOR=$!
: >"$WORK/trace"
: >"$WORK/trace.err"
# Seconds since boot, to a hundredth (whole seconds where /proc/uptime cannot be read).
now() {
  awk '{ print $1; exit }' /proc/uptime 2>/dev/null || date +%s
}
# The first line of tcptracer's output that says why it failed. BCC prints some causes on stdout, before its header (its
# loader.cc writes "Unable to find kernel headers. …" with std::cout), others on stderr (libbpf.c's "cannot attach
# kprobe, …", clang's errors), and Python then adds a traceback whose last line is only the consequence ("Exception:
# Failed to compile BPF module <text>"). So: stdout before the header, then stderr, without the traceback's frames,
# and with libbpf's chatter, modprobe's and warnings only when nothing else was said.
tracer_error() {
  awk -v out="$WORK/trace" '
    FILENAME == out && /^(Tracing TCP|TYPE )/ { header = 1 }
    FILENAME == out && header { next }
    /^[ \t]*$/ || /^[ \t]/ || /^Traceback \(most recent call last\):/ || /^During handling of the above exception/ { next }
    /^The above exception was the direct cause/ || /Possibly lost/ { next }
    /^libbpf: / || /modprobe/ || /RLIMIT_MEMLOCK/ || tolower($0) ~ /warning/ { if (weak == "") weak = $0; next }
    cause == "" { cause = $0 }
    END { print (cause != "" ? cause : weak) }' "$WORK/trace" "$WORK/trace.err" 2>/dev/null
}
TRACED_SECONDS=0
if [ -n "$TRACER" ]; then
  STARTED=$(now)
  if [ "$TRACER_KIND" = bpftrace ]; then
    # Ended by SIGINT too: bpftrace then runs END and flushes what it printed.
    timeout -s INT -k 10 "$SECONDS_ARG" "$TRACER" -e "$BPFTRACE_PROGRAM" >"$WORK/trace" 2>"$WORK/trace.err"
  else
    # -v: long type names and the NETNS column. Unbuffered, and ended by SIGINT: nothing is lost.
    PYTHONUNBUFFERED=1 timeout -s INT -k 10 "$SECONDS_ARG" "$TRACER" -v >"$WORK/trace" 2>"$WORK/trace.err"
  fi
  STATUS=$?
  # RAN: how long it ran, to a tenth, at most the capture; ENDED: "early" when it ended before the capture did. GNU
  # timeout exits 124 when it ended the capture (137 when the tracer needed SIGKILL); any other status is the tracer's
  # own, and a tracer that had already run the whole capture (busybox timeout passes its status on) ended with it.
  set -- $(awk -v a="$STARTED" -v b="$(now)" -v s="$SECONDS_ARG" -v status="$STATUS" 'BEGIN {
    e = b - a; early = (status != 124 && status != 137 && e < s)
    if (e > s) e = s
    if (e < 0) e = 0
    print int(e * 10 + 0.5) / 10, (early ? "early" : "end") }')
  RAN=$1
  ENDED=$2
  HEADER=$(grep -m 1 '^TYPE  *PID  *COMM' "$WORK/trace")
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
        TRACED_SECONDS=$RAN
        if [ "$ENDED" = early ] && [ "$STATUS" -ne 0 ]; then
          FAILED="exited with status $STATUS after tracing $RAN s of $SECONDS_ARG s (what it printed is kept)"
        elif [ "$ENDED" = early ]; then
          unavailable tcptracer "stopped on its own after $RAN s of $SECONDS_ARG s: later connects were not traced"
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

# COUNT TYPE SADDR DADDR DPORT NETNS PIDS COMMS — fields read from the right, since COMM may contain spaces.
awk '
  NF >= 9 && $1 ~ /^(connect|accept|close|failed|unknown)$/ && $NF ~ /^[0-9]+$/ {
    events++
    saddr = $(NF - 4); daddr = $(NF - 3); gsub(/[][]/, "", saddr); gsub(/[][]/, "", daddr)
    comm = $3; for (i = 4; i <= NF - 6; i++) comm = comm " " $i
    gsub(/[ ,]/, "_", comm)
    k = $1 " " saddr " " daddr " " $(NF - 1) " " $NF
    c[k]++
    if (np[k] < 3 && index("," pids[k] ",", "," $2 ",") == 0) { pids[k] = (np[k]++ ? pids[k] "," : "") $2 }
    if (nc[k] < 3 && index("," comms[k] ",", "," comm ",") == 0) { comms[k] = (nc[k]++ ? comms[k] "," : "") comm }
    next
  }
  /^Tracing TCP|^TYPE|^Attaching [0-9]+ probes?|^ *$/ { next }
  /Possibly lost/ { lost++; next }
  { skipped++ }
  END {
    for (k in c) print c[k], k, pids[k], comms[k]
    printf "#stats events=%d skipped=%d lost=%d\n", events, skipped, lost > "/dev/stderr"
  }' "$WORK/trace" 2>"$WORK/trace-stats" | sort -k1,1nr | head -n "$MAX_TRACE_ROWS" >"$WORK/trace-rows"

# ── The report ──────────────────────────────────────────────────────────────────────────────────────────────────────
echo "@@ snat-doctor-probe 1"
echo "@@ meta"
echo "node=$(hostname 2>/dev/null | tr -dc 'A-Za-z0-9.-')"
echo "seconds=$SECONDS_ARG"
echo "traced_seconds=$TRACED_SECONDS"
echo "host_netns=${HOST_NETNS:-0}"
echo "kernel=$(uname -r 2>/dev/null | tr -dc 'A-Za-z0-9._+-')"
echo "tracer=$([ -n "$TRACER" ] && echo yes || echo no)"
echo "tracer_kind=$([ -n "$TRACER" ] && echo "$TRACER_KIND" || echo none)"
echo "crictl=$([ -s "$WORK/sandboxes" ] && echo yes || echo no)"
echo "@@ trace"
sed 's/^#stats //' "$WORK/trace-stats" | sed 's/^/# /'
cat "$WORK/trace-rows"
echo "@@ netns"
cat "$WORK/netns.out"
echo "@@ netns-files"
cat "$WORK/netns-files"
echo "@@ sandboxes"
cat "$WORK/sandboxes"
echo "@@ pstree"
cat "$WORK/pstree"
echo "@@ pod-processes"
cat "$WORK/pod-processes"
echo "@@ sockets"
cat "$WORK/sockets"
echo "@@ udp-sockets"
cat "$WORK/udp-sockets"
echo "@@ inbound"
cat "$WORK/inbound"
echo "@@ unavailable"
cat "$WORK/unavailable"
echo "@@ end"
