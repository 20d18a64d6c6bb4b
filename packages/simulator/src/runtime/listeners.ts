import { createServer, type Server, type Socket } from 'node:net';

/** Listen on host:port; resolves once bound, rejects on EADDRINUSE and the like. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** A TCP listener that remembers its open sockets so that they can be cut at once. */
export function trackedServer(onSocket: (socket: Socket) => void): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  return { server, sockets };
}

/**
 * Pick a free port number and keep it: a listener on 127.0.0.1 (never an
 * instance address) holds the number so that no other wildcard or 127.0.0.1
 * bind takes it; it drops whatever connects to it.
 */
export async function reservePort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  await listen(server, 0, '127.0.0.1');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('could not read the reserved port');
  server.unref();
  return { port: address.port, release: () => closeServer(server) };
}
