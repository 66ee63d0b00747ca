// The investigation's activities, registered from the step registry; each reaches the outside through the ports
// the composition root provides.
import * as df from 'durable-functions';
import { ports } from '../lib/composition.ts';
import { steps } from '../lib/workflow/steps/index.ts';

for (const step of steps) {
  df.app.activity(step.name, {
    // biome-ignore lint/suspicious/noExplicitAny: each step types its own input; the registry holds them together.
    handler: (input: any, context) => step.run(input, ports(), context),
  });
}
