import * as df from 'durable-functions';
import { investigate, ORCHESTRATOR_NAME } from '../lib/workflow/investigate.ts';
import { nodeRegistryEntity, REGISTRY_ENTITY } from '../lib/workflow/nodeRegistry.ts';

df.app.orchestration(ORCHESTRATOR_NAME, investigate);
// One registry per node: the lock an investigation takes before it runs anything on the node, and its history.
df.app.entity(REGISTRY_ENTITY, nodeRegistryEntity);
