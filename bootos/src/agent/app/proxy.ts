// The agent owns each app's public port. A connection is held (paused) while the app is pulled, started or thawed,
// then spliced to the instance that `App.open()` names, the app's switch for new connections. Connections are
// counted for the idle timer. An app that cannot run answers with a short HTTP 503 naming the error code. A
// connection the app refuses as it exits (its listener closed, nothing forwarded yet) goes to its next run.
// Connections are capped per client address, per app and in all (admission.ts), and closed when idle.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { isBootosError } from '../../../../fetcher/src/core/error.js';
import type { PortSpec } from '../../../../fetcher/src/formats/image-config.js';
import type { Limits } from '../../../../fetcher/src/core/limits.js';
import type { ConnectionAdmission } from './admission.js';
import type { Endpoint, TrackedConnection } from './instance.js';

export interface ConnectionTarget {
  readonly name: string;
  open(port: PortSpec): Promise<Endpoint>;
  /** The connection closed; `endpoint` is what open() answered (the instance counts its connections). */
  close(endpoint?: Endpoint): void;
}

export type ProxyLimits = Pick<Limits, 'proxyRefusedWaitMs' | 'proxyIdleTimeoutMs'>;

/** open() at most this often for one connection (the app refused it as it exited, and again after its restart). */
const MAX_OPEN_TRIES = 3;

export class AppListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly app: ConnectionTarget,
    private readonly spec: PortSpec,
    private readonly host: string,
    private readonly limits: ProxyLimits,
    /** Shared by every app port: the caps per client address, per app and in all. */
    private readonly admission: ConnectionAdmission,
  ) {}

  /**
   * Listens on `at` (the image's public port, or where the device's port map puts it), or on a free one when that is
   * taken (or must stay free for the app).
   */
  async listen(avoid: number | null = null, at = this.spec.public): Promise<number> {
    const wanted = at === avoid ? 0 : at;
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
    const admitted = this.admission.admit(client.remoteAddress ?? '', this.app.name);
    if ('full' in admitted) return void client.destroy(); // over a cap: closed at once, before it costs anything more
    this.sockets.add(client);
    client.once('close', admitted.leave);
    let opened: Endpoint | null = null;
    /** The app counts the connection from open() to here, once per open(). */
    const release = () => {
      const endpoint = opened;
      opened = null;
      if (endpoint) this.app.close(endpoint);
    };
    client.on('error', () => {});
    client.once('close', () => {
      this.sockets.delete(client);
      release();
    });
    const attempt = (tries: number): void => {
      this.app.open(this.spec).then(
        (target) => {
          opened = target;
          if (client.destroyed) return release();
          this.splice(client, target, async () => {
            // Refused before a byte went through: the app closed its listener. If its instance is exiting, the
            // connection (still unread, so nothing is replayed) goes to the next run instead of being reset.
            const exiting = tries < MAX_OPEN_TRIES && target.instance ? await target.instance.exitsWithin(this.limits.proxyRefusedWaitMs) : false;
            if (!exiting || client.destroyed) return void client.destroy();
            release();
            attempt(tries + 1);
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
    };
    attempt(1);
  }

  /** Connects to `target` and pipes both ways; `refused` is called instead if the connection to the app fails. */
  private splice(client: Socket, target: Endpoint, refused: () => void): void {
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
    const abandon = () => upstream.destroy();
    client.once('close', abandon);
    upstream.once('error', () => {
      client.off('close', abandon);
      refused();
    });
    upstream.once('connect', () => {
      // No bytes either way for proxyIdleTimeoutMs (the socket's timer counts what it reads and what it writes).
      client.setTimeout(this.limits.proxyIdleTimeoutMs, () => client.destroy());
      upstream.removeAllListeners('error');
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
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
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((done) => server.close(() => done()));
  }
}
