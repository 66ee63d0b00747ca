'use strict';
// A stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into the app.
// `@azure/functions` v4 hands every `app.*` registration (and durable-functions every `df.app.*` one) to
// `registerFunction`; keeping them here lets the in-memory Durable host drive the app's real handlers.
// Plain CommonJS on purpose: `@azure/functions` require()s it, and jest maps it into its CommonJS registry.

// One registry per process, even when this file is loaded twice (by the loader hook for `@azure/functions`, and
// inlined into the CLI's bundle for the local runtime).
const KEY = Symbol.for('snat-doctor.functions-core.registrations');
/** @type {Map<string, { metadata: { name: string, bindings: Record<string, { type: string, direction?: string }> }, handler: Function }>} */
globalThis[KEY] ??= new Map();
const registrations = globalThis[KEY];
/** Hooks by name (`appStart`, …): the worker would call them; here the local runtime and tests may. */
const HOOKS = Symbol.for('snat-doctor.functions-core.hooks');
/** @type {Map<string, Function[]>} */
globalThis[HOOKS] ??= new Map();
const hooks = globalThis[HOOKS];

module.exports = {
  registrations,
  registerFunction(metadata, handler) {
    registrations.set(metadata.name, { metadata, handler });
    return { dispose: () => registrations.delete(metadata.name) };
  },
  setProgrammingModel() {},
  getProgrammingModel() {
    return undefined;
  },
  hooks,
  registerHook(name, callback) {
    hooks.set(name, [...(hooks.get(name) ?? []), callback]);
    return {
      dispose: () =>
        hooks.set(
          name,
          (hooks.get(name) ?? []).filter((c) => c !== callback),
        ),
    };
  },
  log() {},
};
