// Preloaded into every test process and every process a test starts: refuses, before any packet is
// sent, a TCP connection to anything but the loopback interface. Tests must never reach off the machine.
const net = require('node:net');

process.env.APOLLO_TELEMETRY_DISABLED = 'true';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost)$/i;

/** True for a host this machine's tests may connect to. */
function isLoopbackHost(host) {
  return host === undefined || host === null || host === '' || LOOPBACK.test(String(host).replace(/^\[|\]$/g, ''));
}

function targetOf(args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (first && typeof first === 'object') return { host: first.host, path: first.path };
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : undefined };
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  const { host, path } = targetOf(args);
  if (!path && !isLoopbackHost(host)) {
    const message = `Refused a connection to ${host}: tests may only connect to 127.0.0.1 (tests/support/loopbackOnly.cjs).`;
    // Also on stderr: a library may swallow the error, but the test harness reads every line.
    process.stderr.write(`${message}\n`);
    throw new Error(message);
  }
  return originalConnect.apply(this, args);
};

module.exports = { isLoopbackHost };
