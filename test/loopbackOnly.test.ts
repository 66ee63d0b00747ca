// The guard every test runs under: no socket leaves loopback.
import { connect } from 'node:net';
import { expect, test } from '@jest/globals';

test.each(['management.azure.com', '10.0.0.1', '8.8.8.8'])('a connection to %s is refused before it starts', (host) => {
  expect(() => connect(443, host)).toThrow(/tests may reach loopback only/);
});

test('loopback is allowed', async () => {
  const socket = connect(1, '127.0.0.1');
  await new Promise((resolve) => socket.once('error', resolve)); // nothing listens on port 1: refused, as expected
  socket.destroy();
});
