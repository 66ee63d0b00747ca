'use strict';
// Loaded before every test file (jest `setupFiles`): a socket to anything but loopback throws before any DNS lookup
// or packet, so a test that would reach Azure, Slack or anything else fails loudly instead of trying.
const net = require('node:net');

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;
const connect = net.Socket.prototype.connect;
if (!connect.__loopbackOnly) {
  net.Socket.prototype.connect = function loopbackOnlyConnect(...args) {
    // connect(options[, cb]), connect(port[, host][, cb]), connect(path[, cb]), or net.connect's normalized [options, cb].
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const options = first !== null && typeof first === 'object' ? first : undefined;
    const isPath = options ? options.path !== undefined : typeof first === 'string' && !/^\d+$/.test(first);
    const host = options ? (options.host ?? 'localhost') : typeof args[1] === 'string' ? args[1] : 'localhost';
    if (!isPath && !LOOPBACK.test(String(host).replace(/^\[|\]$/g, ''))) {
      throw new Error(`A test tried to connect to ${host}: tests may reach loopback only.`);
    }
    return connect.apply(this, args);
  };
  net.Socket.prototype.connect.__loopbackOnly = true;
}
