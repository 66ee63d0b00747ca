import type { InvocationContext } from '@azure/functions';
import { type StepResult, toStepFailure } from '../errors.ts';
import type { ActivityName } from '../model.ts';
import type { Ports } from '../ports.ts';

/** One activity of the investigation: plain JSON in, a `StepResult` out; throws only for transient faults. */
export interface Step<Input, Output> {
  name: ActivityName;
  run(input: Input, ports: Ports, context: InvocationContext): Promise<Output>;
}

export function defineStep<Input, Output>(
  name: ActivityName,
  run: (input: Input, ports: Ports, context: InvocationContext) => Promise<Output>,
  options: { transientAsData?: boolean } = {},
): Step<Input, StepResult<Output>> {
  return {
    name,
    async run(input, ports, context) {
      try {
        return { ok: true, value: await run(input, ports, context) };
      } catch (error) {
        // Expected failures become data the orchestrator reports; transient faults are rethrown to be retried.
        return toStepFailure(error, options);
      }
    },
  };
}
