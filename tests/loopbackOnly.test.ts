// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isLoopbackHost } = require('./support/loopbackOnly.cjs') as { isLoopbackHost: (host: unknown) => boolean };

describe('the loopback-only guard every test process runs under', () => {
  it.each(['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1', undefined])('allows %s', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['example.com', '10.0.0.1', '192.168.1.1', '169.254.169.254', '8.8.8.8', '::ffff:10.0.0.1'])('refuses %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('is installed in this process: APOLLO_TELEMETRY_DISABLED is set', () => {
    expect(process.env.APOLLO_TELEMETRY_DISABLED).toBe('true');
  });
});
