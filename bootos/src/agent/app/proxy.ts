// The agent owns each app's public port. A connection is held (paused) while the app is pulled, started or thawed,
// then spliced to the instance that `App.open()` names, the app's switch for new connections. Connections are
// counted for the idle timer. An app that cannot run answers with a short HTTP 503 naming the error code.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { isBootosError } from '../../../../fetcher/src/core/error.js';
import type { PortSpec } from '../../../../fetcher/src/formats/image-config.js';
import type { Endpoint, TrackedConnection } from './instance.js';

export interface ConnectionTarget {
  readonly name: string;
  open(port: PortSpec): Promise<Endpoint>;
  /** The connection closed; `endpoint` is what open() answered (the instance counts its connections). */
  close(endpoint?: Endpoint): void;
}

export class AppListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly app: ConnectionTarget,
    private readonly spec: PortSpec,
    private readonly host: string,
  ) {}

  /** Listens on the image's public port, or on a free one when that is taken (or must stay free for the app). */
  async listen(avoid: number | null = null): Promise<number> {
    const wanted = this.spec.public === avoid ? 0 : this.spec.public;
    try {
      this.port = await this.bind(wanted);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' && (err as { code?: string }).code !== 'EACCES') throw err;
      this.port = await this.bind(0);
    }
    return this.port;
  }

  private bind(port: number): Promise<number> {
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.handle(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        this.server = server;
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  private handle(client: Socket): void {
    this.sockets.add(client);
    let released = false;
    let opened: Endpoint | null = null;
    const release = () => {
      if (!released && opened) this.app.close(opened);
      released = true;
    };
    client.on('error', () => {});
    client.once('close', () => {
      this.sockets.delete(client);
      release();
    });
    this.app.open(this.spec).then(
      (target) => {
        opened = target;
        if (client.destroyed) {
          release();
          return;
        }
        const upstream = connect({ host: target.host, port: target.port, noDelay: true });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
        upstream.once('connect', () => {
          // What a drain needs to tell an idle keep-alive connection (the client's turn, quiet) from a busy one.
          const tracked: TrackedConnection = {
            lastFromApp: false,
            lastActivityAt: Date.now(),
            close: () => {
              client.destroy();
              upstream.destroy();
            },
          };
          client.on('data', () => {
            tracked.lastFromApp = false;
            tracked.lastActivityAt = Date.now();
          });
          upstream.on('data', () => {
            tracked.lastFromApp = true;
            tracked.lastActivityAt = Date.now();
          });
          target.connection = tracked;
          target.instance?.track(tracked);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
      },
      (err: unknown) => {
        const code = isBootosError(err) ? err.code : 'APP_START_FAILED';
        const body = `${JSON.stringify({ error: { code, message: (err as Error).message } })}\n`;
        client.resume(); // read and drop the request, so that closing does not reset the connection
        client.end(
          `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
            `connection: close\r\n\r\n${body}`,
        );
      },
    );
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((done) => server.close(() => done()));
  }
}
