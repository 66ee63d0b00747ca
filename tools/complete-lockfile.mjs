#!/usr/bin/env node
// Completes package-lock.json with the platform-specific optional packages (biome, swc, unrs-resolver …) that the
// registry mirror on our build machines does not serve. `npm install` there writes a lock without them, and `npm ci`
// then refuses the lock ("Missing: @swc/core-darwin-arm64@ from lock file") everywhere, ours included. Each added
// entry carries the os/cpu/libc its name declares, so npm skips it on every other platform without fetching it.
//
// Run after every `npm install` that changes the lock:  node tools/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const OS = ['android', 'darwin', 'freebsd', 'linux', 'win32', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'wasm32', 'mips64el'];

/** `@swc/core-linux-arm64-musl` → { os: ['linux'], cpu: ['arm64'], libc: ['musl'] }, from the name's parts. */
export function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (!cpu) return undefined;
  const platform = { cpu: [cpu] };
  if (os) platform.os = [os];
  if (os === 'linux') {
    if (parts.some((p) => p.startsWith('musl'))) platform.libc = ['musl'];
    else if (parts.some((p) => p.startsWith('gnu'))) platform.libc = ['glibc'];
  }
  return platform;
}

const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const added = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path === '' ? '' : `${path}/`;
    const key = `${base}node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) {
      console.warn(`left alone: ${name}@${version} (not a pinned platform package)`);
      continue;
    }
    lock.packages[key] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, ...platform };
    added.push(`${name}@${version}`);
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => a.localeCompare(b, 'en')));
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform entries:\n  ${added.join('\n  ')}` : 'lock already complete',
);
