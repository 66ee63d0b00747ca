// jest in ESM mode (the project is "type": "module"); TypeScript is stripped by swc, type-checked by `tsc`.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } },
    ],
  },
  // The Functions worker provides `@azure/functions-core` as a built-in module; locally our fake stands in for it
  // so that every `app.*` / `df.app.*` registration reaches the in-memory Durable host.
  moduleNameMapper: {
    '^@azure/functions-core$': '<rootDir>/lib/local/functionsCore.cjs',
  },
  // Tests may reach loopback only: anything else throws (test/support/loopbackOnly.cjs).
  setupFiles: ['<rootDir>/test/support/loopbackOnly.cjs'],
  testTimeout: 60_000,
};
