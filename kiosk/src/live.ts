// Live updates from /api/events (server-sent events), reconnecting with a growing delay when the stream drops.
// The browser's EventSource retries by itself only while the server answers 200; when the agent restarts or answers
// an error the source closes for good, so the kiosk opens a new one (and re-reads /api/apps to miss nothing).
import { KIOSK } from './config.js';

export interface LiveHandlers {
  onApps(data: unknown): void;
  onStep(data: unknown): void;
  /** A key meant for the device's own screen (the agent sends these to the display app's kiosk alone). */
  onScreen(data: unknown): void;
  /** Called with true when the stream is open, false when it dropped (the kiosk shows it). */
  onConnection(connected: boolean): void;
  /** Called after every (re)connection, to re-read the full state. */
  onOpen(): void;
}

export function connectLive(handlers: LiveHandlers): () => void {
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delayMs: number = KIOSK.reconnectFirstMs;
  let stopped = false;

  const parse = (event: MessageEvent, use: (data: unknown) => void) => {
    try {
      use(JSON.parse(String(event.data)));
    } catch {
      // A malformed event is dropped; the next one carries the full state again.
    }
  };

  const open = () => {
    if (stopped) return;
    source = new EventSource('/api/events');
    source.addEventListener('open', () => {
      delayMs = KIOSK.reconnectFirstMs;
      handlers.onConnection(true);
      handlers.onOpen();
    });
    source.addEventListener('apps', (e) => parse(e as MessageEvent, handlers.onApps));
    source.addEventListener('step', (e) => parse(e as MessageEvent, handlers.onStep));
    source.addEventListener('screen', (e) => parse(e as MessageEvent, handlers.onScreen));
    source.addEventListener('error', () => {
      handlers.onConnection(false);
      if (source?.readyState === EventSource.CLOSED) {
        source = null;
        clearTimeout(timer);
        timer = setTimeout(open, delayMs);
        delayMs = Math.min(delayMs * 2, KIOSK.reconnectMaxMs);
      }
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
