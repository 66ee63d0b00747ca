// Step-by-step progress on stderr, from the orchestration's custom status.
import type { InMemoryDurableHost, StatusEvent } from '../local/durableHost.ts';
import type { InvestigationStatus } from '../workflow/investigate.ts';

export class ProgressPrinter {
  readonly #out: NodeJS.WriteStream;
  #last = '';

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }

  header(text: string): void {
    this.#out.write(`${text}\n`);
  }

  /** Prints each new step (and pod progress) until the returned function is called. */
  follow(host: InMemoryDurableHost, instanceId: string): () => void {
    const onStatus = (event: StatusEvent) => {
      if (event.instanceId !== instanceId) return;
      const status = event.customStatus as InvestigationStatus | null;
      if (!status?.step) return;
      const line = `[${status.index}/${status.of}] ${status.message}${
        status.pods ? ` (${status.pods.done}/${status.pods.total} done)` : ''
      }`;
      if (line === this.#last) return;
      this.#last = line;
      this.#out.write(`${line}\n`);
    };
    host.events.on('status', onStatus);
    return () => host.events.off('status', onStatus);
  }
}
