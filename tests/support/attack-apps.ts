// The sources of hostile apps that more than one test runs (on the host and inside a guest): each is a Node server on
// port 8080 for an image with `runtime: node`.

/** GET /flood writes 64 MiB to stdout without a newline, then "\nflood done\n", and answers "flooded". */
export const FLOOD_SERVER = `
require('node:http').createServer((req, res) => {
  if (req.url !== '/flood') return res.end('ok');
  const chunk = 'y'.repeat(1 << 20);
  let left = 64;
  const next = () => {
    while (left > 0) {
      left--;
      if (!process.stdout.write(chunk)) return process.stdout.once('drain', next);
    }
    process.stdout.write('\\nflood done\\n', () => res.end('flooded'));
  };
  next();
}).listen(8080);
`;
