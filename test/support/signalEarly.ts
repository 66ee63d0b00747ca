// A preload (`node --import SIGNAL_EARLY bin/snat-doctor.js diagnose …`) that sends the process SIGINT as soon as a
// SIGINT listener is added: diagnose's own, added before it reaches the cluster, so the signal arrives while the
// command is still starting (the moment a person presses Ctrl-C right after Enter), without a test timing it.
export const SIGNAL_EARLY = `data:text/javascript,${encodeURIComponent(
  `process.on('newListener', function early(event) {
    if (event !== 'SIGINT') return;
    process.off('newListener', early);
    setImmediate(() => process.kill(process.pid, 'SIGINT'));
  });`,
)}`;
