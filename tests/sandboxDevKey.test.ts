import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSandbox } from '../gateway/src/sandbox/createSandbox';

// The development key is offered to the sandbox of the gateway's own machine only: a browser
// elsewhere (TAILOR_HOST=0.0.0.0 in development) gets the page without it.

/** The page `createSandbox` serves to a browser at `remoteAddress`. */
function pageFor(remoteAddress: string): string {
  const sandbox = createSandbox({ query: '{ __typename }', variables: {}, localHeaders: { authorization: 'Bearer tlr_local' } });
  const req = Object.assign(new EventEmitter(), { method: 'GET', url: '/', headers: { accept: 'text/html' }, socket: { remoteAddress } }) as unknown as IncomingMessage;
  let body = '';
  const res = { writeHead: () => res, end: (chunk?: Buffer) => void (body = chunk?.toString('utf8') ?? '') } as unknown as ServerResponse;
  expect(sandbox.serve(req, res, '/')).toBe(true);
  return body;
}

const configOf = (html: string) => JSON.parse(/<script id="tailor-sandbox-config" type="application\/json">(.*?)<\/script>/s.exec(html)![1]);

describe('the sandbox and the development key', () => {
  it.each(['127.0.0.1', '::1', '::ffff:127.0.0.1'])('opens with the key for a browser on this machine (%s)', (address) => {
    expect(JSON.parse(configOf(pageFor(address)).headers)).toEqual({ authorization: 'Bearer tlr_local' });
  });

  it.each(['10.0.0.5', '::ffff:192.168.1.9', '2001:db8::1'])('opens without it for a browser elsewhere (%s)', (address) => {
    const html = pageFor(address);
    expect(configOf(html).headers).toBeUndefined();
    expect(html).not.toContain('tlr_local');
  });
});
