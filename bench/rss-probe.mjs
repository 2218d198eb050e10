// Preloaded into the measured `bootos pull` (node --import): writes the process's peak RSS in bytes to the file named
// by BOOTOS_BENCH_RSS_FILE when it exits. The measured program is otherwise the unchanged CLI bundle.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.BOOTOS_BENCH_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
