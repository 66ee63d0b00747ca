// The scenario's faults, as every sandbox endpoint applies them: each fails its target `times` times (or always), for
// the matching node or pod when it names one.
import type { Fault, FaultTarget } from './scenario.ts';

export interface FaultSubject {
  node?: string | undefined;
  pod?: string | undefined;
}

export class FaultInjector {
  readonly #remaining: (number | undefined)[];
  readonly #faults: Fault[];

  constructor(faults: Fault[]) {
    this.#faults = faults;
    this.#remaining = faults.map((f) => f.times);
  }

  /**
   * The next fault for this call, counted as used. A fault that names a node or pod applies only to calls about it;
   * calls about no node or pod (ARM, metrics) get only the faults that name none.
   */
  take(target: FaultTarget, subject: FaultSubject = {}): Fault | undefined {
    const index = this.#faults.findIndex(
      (f, i) =>
        f.target === target &&
        this.#remaining[i] !== 0 &&
        (f.node === undefined || f.node === subject.node) &&
        (f.pod === undefined || f.pod === subject.pod),
    );
    if (index < 0) return undefined;
    const left = this.#remaining[index];
    if (left !== undefined) this.#remaining[index] = left - 1;
    return this.#faults[index];
  }
}
