// One HTTP request on a connection of its own, for attack tests that count what each connection got: an answer
// (status and body), an error (a reset, a refusal) or nothing within the timeout (a hang).
import { request } from 'node:http';

export type Outcome = { status: number; body: string; ms: number } | { error: string; ms: number };

export function probe(port: number, path = '/', timeoutMs = 5_000, localAddress?: string): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' }, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - t0 }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, ms: Date.now() - t0 }));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve({ error: 'TIMEOUT', ms: Date.now() - t0 });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, ms: Date.now() - t0 }));
    req.end();
  });
}

/** "200 ×40, ECONNRESET ×2": what a batch of requests got. */
export function tally(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = 'status' in o ? String(o.status) : o.error;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
}
