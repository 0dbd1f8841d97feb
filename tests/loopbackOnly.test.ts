import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK_ONLY, REPO_ROOT } from './support/processStack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isLoopbackHost } = require('./support/loopbackOnly.cjs') as { isLoopbackHost: (host: unknown) => boolean };

/** Lines a guarded process writes when it refuses a connection, a datagram or a look-up. */
const REFUSAL = /^Refused .*\(tests\/support\/loopbackOnly\.cjs\)\.$/m;

describe('the loopback-only guard every test process runs under', () => {
  it.each(['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1', undefined])('allows %s', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['example.com', '10.0.0.1', '192.168.1.1', '169.254.169.254', '8.8.8.8', '::ffff:10.0.0.1'])('refuses %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('is installed in this process: a TCP connection, a datagram and a DNS look-up off the machine are refused before anything is sent', () => {
    expect(() => net.connect({ host: '10.255.255.1', port: 9 })).toThrow('Refused a connection to 10.255.255.1');
    const socket = dgram.createSocket('udp4');
    try {
      expect(() => socket.send('x', 53, '192.0.2.1')).toThrow('Refused a datagram to 192.0.2.1');
    } finally {
      socket.close();
    }
    expect(() => dns.lookup('example.com', () => undefined)).toThrow('Refused a DNS look-up of example.com');
  });

  it('lets loopback connections through', async () => {
    const server = net.createServer((socket) => socket.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => undefined);
      let text = '';
      socket.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text)).on('error', reject);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(answer).toBe('ok');
  });

  it('is installed in the processes the tests start (the harnesses pass --require)', () => {
    const run = spawnSync(process.execPath, ['--require', LOOPBACK_ONLY, '-e', "require('node:net').connect({ host: '10.255.255.1', port: 9 })"], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(REFUSAL);
  });
});

describe('a gateway started as operators start it', () => {
  /**
   * Starts `gateway/src/main.ts` under the guard with `env`, over a data folder of its own, waits until
   * it answers /health, lets it run for `settleMs`, then stops it and returns all it printed.
   */
  async function runGateway(env: Record<string, string | undefined>, settleMs = 3000): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), 'tailor-loopback-gateway-'));
    const childEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...process.env, ...env, TAILOR_DATA_DIR: dataDir })) if (value !== undefined) childEnv[key] = value;
    const child: ChildProcess = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join(REPO_ROOT, 'gateway', 'src', 'main.ts'), '--port', '0', '--log-level', 'warn'], {
      cwd: REPO_ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the gateway exited during start-up (code ${code}):\n${output}`)));
        child.on('message', (message: { type?: string; url?: string }) => message?.type === 'listening' && resolve(message.url!));
      });
      expect((await fetch(`${url}/health`)).status).toBe(200);
      // Cloud-metadata probes and exporters start within the first seconds of the process.
      await new Promise((resolve) => setTimeout(resolve, settleMs));
    } finally {
      child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
    return output;
  }

  it('opens no connection beyond 127.0.0.1 with telemetry left at its default', async () => {
    const output = await runGateway({ APOLLO_TELEMETRY_DISABLED: undefined });
    expect(output.split('\n').filter((line) => REFUSAL.test(line))).toEqual([]);
  }, 60_000);

  it('would, if an operator switched Apollo telemetry on: the guard sees and refuses those attempts', async () => {
    const output = await runGateway({ APOLLO_TELEMETRY_DISABLED: 'false' });
    expect(output).toMatch(REFUSAL);
  }, 60_000);
});
