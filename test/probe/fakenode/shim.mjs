// A stand-in for containerd's runc v2 shim, as the fake node's pods have it (test/probe/fakeNode.ts). It is what
// pstree shows above a pod's processes on a node:
//
//   containerd-shim,PID -namespace k8s.io -id SANDBOX_ID -address /run/containerd/containerd.sock
//       `-pause,PID …
//
// that is, comm `containerd-shim` (containerd-shim-runc-v2 cut to 15 characters) and a command line that is exactly
// the real one's. It is run as `node shim.mjs -namespace k8s.io -id … -address …` with argv[0] chosen so that argv[0]
// and argv[1] together take as many bytes as `containerd-shim-runc-v2` does; it then writes that name over them in
// its own memory (/proc/self/mem, where /proc/PID/cmdline is read from) and its comm.
//
// Like the real shim it is the parent of the pod's processes: it starts each container script of
// $SND_POD_DIR/containers, in name order (the pause container's first), and keeps running.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'containerd-shim-runc-v2';

writeFileSync('/proc/self/comm', NAME.slice(0, 15));

const cmdline = readFileSync('/proc/self/cmdline');
const replaced = cmdline.indexOf(0, cmdline.indexOf(0) + 1) + 1; // argv[0] and argv[1], each with its NUL
if (replaced !== NAME.length + 1) {
  console.error(`argv[0] and argv[1] take ${replaced} bytes, not ${NAME.length + 1}: start this with a matching argv0`);
  process.exit(2);
}
// /proc/PID/stat: field 48 is arg_start, the address of argv[0]'s first byte (fields are counted from 1, and the
// comm, field 2, is in parentheses).
const stat = readFileSync('/proc/self/stat', 'utf8');
const argStart = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[48 - 3]);
const mem = openSync('/proc/self/mem', 'r+');
writeSync(mem, Buffer.from(`${NAME}\0`), 0, NAME.length + 1, argStart);
closeSync(mem);
const shown = readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1);
const expected = [NAME, ...process.argv.slice(2)];
if (shown.join(' ') !== expected.join(' ')) {
  console.error(`the command line reads ${JSON.stringify(shown)}, not ${JSON.stringify(expected)}`);
  process.exit(2);
}

const containers = join(process.env.SND_POD_DIR, 'containers');
for (const script of readdirSync(containers).sort()) {
  spawn('sh', [join(containers, script)], { stdio: 'ignore' });
}
setInterval(() => {}, 1 << 30);
