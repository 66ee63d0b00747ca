// The CLI watch's memory between runs (lib/watch/memory.ts), as one JSON file per user: `watch --once` run twice
// tells an allocation that dropped in between, and a node rising over several runs is investigated early. Read
// bounded (1 MiB) and checked field by field; written whole through a temporary file, so a run that is killed never
// leaves half a file.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ClusterRef } from '../model.ts';
import { readInputText } from '../readInput.ts';
import { type ClusterMemory, clusterKey, emptyMemory, memoryFrom, type WatchMemory } from '../watch/memory.ts';

const MAX_STATE_BYTES = 1 << 20;

/** `$XDG_STATE_HOME/snat-doctor/watch.json`, or `~/.local/state/snat-doctor/watch.json` (the XDG default). */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'snat-doctor', 'watch.json');
}

export function fileWatchMemory(path: string): WatchMemory {
  const readAll = async (): Promise<Record<string, unknown>> => {
    let text: string;
    try {
      text = await readInputText(path, '--state', MAX_STATE_BYTES);
    } catch (error) {
      // No file yet: the first run.
      if ((error as { cause?: { code?: string } }).cause?.code === 'ENOENT') return {};
      throw error;
    }
    try {
      const value = JSON.parse(text) as unknown;
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : {};
    } catch {
      // A state file that is not JSON is started over, not trusted: the watch only loses its memory.
      return {};
    }
  };
  return {
    async load(cluster: ClusterRef): Promise<ClusterMemory> {
      const all = await readAll();
      return all[clusterKey(cluster)] === undefined ? emptyMemory() : memoryFrom(all[clusterKey(cluster)]);
    },
    async save(cluster: ClusterRef, memory: ClusterMemory): Promise<void> {
      const all = await readAll();
      all[clusterKey(cluster)] = memory;
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(all)}\n`, { mode: 0o600 });
      await rename(temporary, path);
    },
  };
}
