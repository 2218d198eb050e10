// When a started container counts as ready: its port accepts a TCP connection and, if the image declares an HTTP
// health check, that answers 2xx. An exit before then, or the start timeout, is a failed start.
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { BootosError } from '../../../../fetcher/src/core/error.js';
import type { ImageConfig } from '../../../../fetcher/src/formats/image-config.js';

export interface ReadinessOptions {
  /** The app's name, for the error messages. */
  app: string;
  config: ImageConfig;
  /** Where the app's ports are reached (its network namespace's address). */
  host: string;
  /** Settles when the container exits. */
  exited: Promise<{ code: number }>;
  startTimeoutMs: number;
  /** The pause between TCP connection attempts. */
  readyPollMs: number;
  /**
   * The display app (which has no port) is ready once its kiosk is up on the screen: this says whether the page has
   * its event stream open to the agent from the instance's address.
   */
  screenUp?: () => boolean;
}

/** Until the app's port accepts a connection (and its HTTP health check answers 2xx, if it has one). */
export async function waitReady(o: ReadinessOptions): Promise<void> {
  const cfg = o.config;
  const deadline = Date.now() + o.startTimeoutMs;
  const portSpec = cfg.health ? cfg.ports.find((p) => p.name === cfg.health!.port) : cfg.ports[0];
  let exited: number | null = null;
  void o.exited.then((s) => (exited = s.code));
  if (o.screenUp) return screenReady(o, deadline, () => exited);
  if (!portSpec) return; // no port: running once started
  const host = o.host;
  let tcpUp = false;
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new BootosError('APP_CRASHED', `${o.app} exited with status ${exited} before it was ready`);
    }
    if (!tcpUp) tcpUp = await tryConnect(host, portSpec.port, Math.max(50, deadline - Date.now()));
    if (tcpUp) {
      if (!cfg.health?.http) return;
      if (await httpHealthy(host, portSpec.port, cfg.health.http, cfg.health.timeoutMs)) return;
      await sleep(cfg.health.intervalMs);
    } else {
      await sleep(o.readyPollMs);
    }
  }
  throw new BootosError('APP_START_FAILED', `${o.app} was not ready within ${o.startTimeoutMs} ms`);
}

/** Until the screen's kiosk is up (ReadinessOptions.screenUp); an exit first is a crash, no kiosk in time a failed start. */
async function screenReady(o: ReadinessOptions, deadline: number, exited: () => number | null): Promise<void> {
  while (Date.now() < deadline) {
    const code = exited();
    if (code !== null) throw new BootosError('APP_CRASHED', `${o.app} exited with status ${code} before the kiosk was on the screen`);
    if (o.screenUp!()) return;
    await sleep(o.readyPollMs);
  }
  throw new BootosError('APP_START_FAILED', `${o.app}: the kiosk was not on the screen within ${o.startTimeoutMs} ms (its page never connected to the agent)`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function httpHealthy(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const req = httpGet({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
  });
}
