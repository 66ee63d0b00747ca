// A preload (`node --import AS_OLDER_NODE bin/snat-doctor.js …`) that makes the process report Node 20, so that
// bin/snat-doctor.js runs the CLI again under the project's Node (node_modules/node), as it does when the system's
// older `node` starts it (`./bin/snat-doctor.js`, an `npm link`ed `snat-doctor`). process.versions.node is a
// configurable property. A sync resolve hook (module.registerHooks) fails the parent if it loads the CLI itself; the
// child, started without the preload, has neither.
export const AS_OLDER_NODE = `data:text/javascript,${encodeURIComponent(
  `Object.defineProperty(process.versions, 'node', { value: '20.0.0' });
  (await import('node:module')).registerHooks({
    resolve(specifier, context, next) {
      if (specifier.endsWith('/dist/cli.js')) throw new Error('the parent loaded the CLI itself');
      return next(specifier, context);
    },
  });`,
)}`;
