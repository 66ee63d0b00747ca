// Outside the Functions worker, make `require('@azure/functions-core')` (done lazily inside `@azure/functions`)
// resolve to our stand-in, exactly as the worker does with its built-in module. Must run before the first
// `app.*` call: `@azure/functions` caches the first lookup. The CLI's entry calls this first thing; jest maps the
// module in its config instead (and refuses loader hooks).
import { registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';
import { projectPath } from '../projectRoot.ts';

const standIn = pathToFileURL(projectPath('lib', 'local', 'functionsCore.cjs')).href;

let installed = false;

export function installFunctionsCore(): void {
  if (installed) return;
  installed = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === '@azure/functions-core') return { url: standIn, format: 'commonjs', shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
