import * as df from 'durable-functions';
import { investigate, ORCHESTRATOR_NAME } from '../lib/workflow/investigate.ts';

df.app.orchestration(ORCHESTRATOR_NAME, investigate);
