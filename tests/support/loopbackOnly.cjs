// Preloaded into every test process and every process a test starts: refuses, before any packet is
// sent, a TCP connection, a UDP datagram or a DNS look-up for anything but the loopback interface.
// Tests must never reach off the machine. Every refusal is also written to stderr, so a harness that
// reads a process's output sees an attempt even when a library swallows the error.
const dgram = require('node:dgram');
const dns = require('node:dns');
const net = require('node:net');

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost)$/i;

/** True for a host this machine's tests may connect to. */
function isLoopbackHost(host) {
  return host === undefined || host === null || host === '' || LOOPBACK.test(String(host).replace(/^\[|\]$/g, ''));
}

function refuse(what, host) {
  const message = `Refused ${what} ${host}: tests may only connect to 127.0.0.1 (tests/support/loopbackOnly.cjs).`;
  process.stderr.write(`${message}\n`);
  return new Error(message);
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
  if (!path && !isLoopbackHost(host)) throw refuse('a connection to', host);
  return originalConnect.apply(this, args);
};

// A UDP datagram names its address last but for an optional callback: send(msg, [offset, length,] port, address, cb).
const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function send(...args) {
  const address = args.filter((a) => typeof a === 'string').pop();
  if (!isLoopbackHost(address)) throw refuse('a datagram to', address);
  return originalSend.apply(this, args);
};

const originalLookup = dns.lookup;
dns.lookup = function lookup(hostname, ...rest) {
  if (!isLoopbackHost(hostname) && net.isIP(String(hostname)) === 0) throw refuse('a DNS look-up of', hostname);
  return originalLookup.call(this, hostname, ...rest);
};
const originalPromisesLookup = dns.promises.lookup;
dns.promises.lookup = function lookup(hostname, ...rest) {
  if (!isLoopbackHost(hostname) && net.isIP(String(hostname)) === 0) return Promise.reject(refuse('a DNS look-up of', hostname));
  return originalPromisesLookup.call(this, hostname, ...rest);
};

module.exports = { isLoopbackHost };
