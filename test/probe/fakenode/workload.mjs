// A container of the fake node's pods (test/probe/fakeNode.ts), or one of its "internet" hosts: opens the sockets its
// config asks for, reports what it did in a status file, and obeys control files. It is started already inside its
// network namespace (`ip netns exec`) and its pod cgroup, so every socket it opens belongs to the pod from the start.
//
//   node workload.mjs CONFIG.json
//
// Config (every part optional):
//   status, control        the status file (JSON, replaced atomically) and the directory of control files
//   listen: [{host,port}]  TCP servers; an accepted connection stays open until the client closes it
//   udpBind: [{host,port}] bound UDP sockets (no peer)
//   hold: [{host,port,count}]       long-lived TCP connections
//   udpConnect: [{host,port,count}] connected UDP sockets (they name a peer; nothing is sent)
//   churn: {host,port,pauseMs}      from control/go until control/stop: connect, close, again (TIME_WAIT here)
//   fail: {host,port,attempts,sentinelPort,pauseMs}
//                          until control/go: a refused connect to sentinelPort every pauseMs (a marker the test looks
//                          for in the trace); then exactly `attempts` connects to port, one after the other, each
//                          expected to be refused; then nothing more
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const status = {
  pid: process.pid,
  ready: false,
  listening: 0,
  accepted: 0,
  established: 0,
  udpConnected: 0,
  churn: { started: false, attempts: 0, connected: 0, stopped: false },
  fail: { sentinels: 0, attempts: 0, refused: 0, done: false },
  errors: [],
};
const keep = []; // every socket, so none is collected or closed
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const control = (name) => existsSync(join(config.control, name));

function report() {
  writeFileSync(`${config.status}.tmp`, JSON.stringify(status));
  renameSync(`${config.status}.tmp`, config.status);
}
function error(what, err) {
  if (status.errors.length < 20) status.errors.push(`${what}: ${err?.code ?? err?.message ?? err}`);
  report();
}
setInterval(report, 50);

/** One TCP connect; resolves with what happened. `close`: end it once connected and wait until it is closed. */
function attempt(host, port, close) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      if (!close) {
        keep.push(socket);
        resolve('connected');
        return;
      }
      socket.end();
      socket.resume();
      socket.once('close', () => resolve('connected'));
    });
    socket.once('error', (err) => {
      socket.destroy();
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code ?? err.message}`);
    });
  });
}

async function main() {
  for (const { host, port } of config.listen ?? []) {
    const server = createServer((socket) => {
      status.accepted++;
      keep.push(socket);
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    status.listening++;
    keep.push(server);
  }
  for (const { host, port } of config.udpBind ?? []) {
    const socket = createSocket('udp4');
    await new Promise((resolve) => socket.bind(port, host, resolve));
    keep.push(socket);
  }
  for (const { host, port, count } of config.hold ?? []) {
    for (let i = 0; i < count; i++) {
      const outcome = await attempt(host, port, false);
      if (outcome === 'connected') status.established++;
      else error(`hold ${host}:${port}`, outcome);
    }
  }
  for (const { host, port, count } of config.udpConnect ?? []) {
    for (let i = 0; i < count; i++) {
      const socket = createSocket('udp4');
      await new Promise((resolve) => socket.connect(port, host, resolve));
      keep.push(socket);
      status.udpConnected++;
    }
  }
  if (config.fail) {
    // The first sentinel proves the path: the closed port answers with a reset (refused), it is not dropped.
    const { host, sentinelPort } = config.fail;
    const outcome = await attempt(host, sentinelPort, true);
    if (outcome === 'refused') status.fail.sentinels++;
    else error(`sentinel ${host}:${sentinelPort}`, outcome);
  }
  status.ready = status.errors.length === 0;
  report();
  await Promise.all([churn(), fail()]);
}

async function churn() {
  if (!config.churn) return;
  const { host, port, pauseMs = 20 } = config.churn;
  while (!control('go')) await sleep(10);
  status.churn.started = true;
  while (!control('stop')) {
    status.churn.attempts++;
    const outcome = await attempt(host, port, true);
    if (outcome === 'connected') status.churn.connected++;
    else error(`churn ${host}:${port}`, outcome);
    await sleep(pauseMs);
  }
  status.churn.stopped = true;
  report();
}

async function fail() {
  if (!config.fail) return;
  const { host, port, attempts, sentinelPort, pauseMs = 50 } = config.fail;
  while (!control('go')) {
    const outcome = await attempt(host, sentinelPort, true);
    if (outcome === 'refused') status.fail.sentinels++;
    else error(`sentinel ${host}:${sentinelPort}`, outcome);
    await sleep(pauseMs);
  }
  for (let i = 0; i < attempts; i++) {
    status.fail.attempts++;
    const outcome = await attempt(host, port, true);
    if (outcome === 'refused') status.fail.refused++;
    else error(`fail ${host}:${port}`, outcome);
  }
  status.fail.done = true;
  report();
}

main().catch((err) => error('main', err));
