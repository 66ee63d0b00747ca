// The watch's memory in the Functions app (memory.ts says why there): one Durable entity per cluster, `watchmemory`,
// read with readEntityState at the start of a tick and replaced with one `set` signal at its end. Only the snatWatch
// timer writes it, and the host runs a timer on one instance at a time, so a read-then-set never races another.

import type { EntityContext } from 'durable-functions';
import * as df from 'durable-functions';
import type { ClusterRef } from '../model.ts';
import type { InvestigationClient } from '../workflow/start.ts';
import { type ClusterMemory, clusterKey, emptyMemory, memoryFrom, type WatchMemory } from './memory.ts';

export const WATCH_MEMORY_ENTITY = 'watchmemory';

export function entityWatchMemory(client: Pick<InvestigationClient, 'readEntityState' | 'signalEntity'>): WatchMemory {
  const id = (cluster: ClusterRef) => new df.EntityId(WATCH_MEMORY_ENTITY, clusterKey(cluster));
  return {
    async load(cluster) {
      const response = await client.readEntityState<unknown>(id(cluster));
      return response.entityExists ? memoryFrom(response.entityState) : emptyMemory();
    },
    async save(cluster, memory) {
      await client.signalEntity(id(cluster), 'set', memory);
    },
  };
}

/** The entity function: `set` replaces the memory; it is read through readEntityState. */
export function watchMemoryEntity(context: EntityContext<ClusterMemory>): void {
  if (context.df.operationName !== 'set') {
    throw new Error(`watchmemory has no operation ${JSON.stringify(context.df.operationName)}`);
  }
  context.df.setState(memoryFrom(context.df.getInput()));
}
