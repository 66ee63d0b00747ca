export interface RegisteredFunction {
  metadata: { name: string; bindings: Record<string, { type: string; direction?: string; [key: string]: unknown }> };
  // biome-ignore lint/suspicious/noExplicitAny: handlers of every trigger type land here; callers narrow them.
  handler: (...args: any[]) => unknown;
}
export declare const registrations: Map<string, RegisteredFunction>;
export declare function registerFunction(
  metadata: RegisteredFunction['metadata'],
  handler: RegisteredFunction['handler'],
): { dispose(): void };
/** Hooks the app registered (`appStart`, …), by name; each takes the worker's hook context. */
export declare const hooks: Map<string, ((context: { hookData?: Record<string, unknown> }) => unknown)[]>;
