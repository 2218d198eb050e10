// A static server for a registry directory that sends blobs slowly (a pause after each 64 KiB), with Range support,
// logging the Range headers it was asked for: for tests that kill a download in the middle and check its resume.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';

export async function slowServer(root: string, ranges: string[], pauseMs: number): Promise<{ url: string; close(): void }> {
  const server = createServer(async (req, res) => {
    const path = join(root, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (m) ranges.push(req.headers.range!);
    res.writeHead(m ? 206 : 200, { 'content-length': size - start, ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
    const stream = createReadStream(path, { start, highWaterMark: 64 * 1024 });
    res.on('close', () => stream.destroy());
    try {
      for await (const chunk of stream) {
        if (res.destroyed) break;
        res.write(chunk);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
      res.end();
    } catch {
      res.destroy(); // the client was killed
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, close: () => (server.closeAllConnections(), server.close()) };
}
