'use strict';
// A stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into the app.
// `@azure/functions` v4 hands every `app.*` registration (and durable-functions every `df.app.*` one) to
// `registerFunction`; keeping them here lets the in-memory Durable host drive the app's real handlers.
// Plain CommonJS on purpose: `@azure/functions` require()s it, and jest maps it into its CommonJS registry.

/** @type {Map<string, { metadata: { name: string, bindings: Record<string, { type: string, direction?: string }> }, handler: Function }>} */
const registrations = new Map();

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
  registerHook() {
    return { dispose() {} };
  },
  log() {},
};
