import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Opens `server` on `host:port` and resolves with the bound port. Port 0 picks a free one. */
export function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
