// Stopping `snat-doctor serve` with an investigation still running (issue 14): it printed "Stopped." and kept running
// until the investigation's own timers and requests ran out (a 300 s capture). Now it says what it abandoned and exits.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@jest/globals';
import { DEFAULT_SCENARIO_PATH, loadScenario } from '../../lib/sandbox/scenario.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));

/** A port free a moment ago (serve's --port takes no 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('Ctrl-C with an investigation still running: serve says it abandoned it and exits 0 (it kept running)', async () => {
  const { cluster } = await loadScenario(DEFAULT_SCENARIO_PATH);
  const port = await freePort();
  const env: Record<string, string | undefined> = {
    ...process.env,
    SLACK_SIGNING_SECRET: '8f14e45fceea167a5a36dedd4bea2543',
  };
  for (const name of ['SLACK_BOT_TOKEN', 'SNAT_DOCTOR_SLACK_ACCESS']) delete env[name];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    while (!stdout.includes('Press Ctrl-C to stop.')) {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const base = `http://127.0.0.1:${port}`;
    const key = /^Key .*: (\S+)$/m.exec(stdout)?.[1];
    const { subscriptionId, resourceGroup, name } = cluster;
    const started = await fetch(`${base}/api/investigations?code=${key}`, {
      method: 'POST',
      body: JSON.stringify({ cluster: { subscriptionId, resourceGroup, name }, seconds: 300 }),
    });
    expect(started.status).toBe(202);
    const { instanceId } = (await started.json()) as { instanceId: string };
    // Stopped in the middle of the 300 s capture.
    for (;;) {
      const state = (await (
        await fetch(`${base}/api/investigations/${encodeURIComponent(instanceId)}?code=${key}`)
      ).json()) as {
        step: { name: string } | null;
      };
      if (state.step?.name === 'captureNode') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // …and its probe pod was deleted before serve left (the capture was aborted).
    expect(stdout).toContain(
      `Stopped; abandoned an investigation still running: ${instanceId}; no probe pod is left running.\n`,
    );
  } finally {
    child.kill('SIGKILL');
  }
});
