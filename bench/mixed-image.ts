// A benchmark image with a realistic mix of files: many small ones, some medium, a few large; half of the bytes
// incompressible (like images, fonts, already compressed assets), half text-like (compresses ~3×).
// Deterministic: the same size gives the same bytes on every machine (AES-CTR keystream and a seeded word list).
import { createCipheriv } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you ' +
  'were her she there been one all we their has would when if so no will can more other its into time only could new ' +
  'image layer registry channel device agent verify digest signature manifest config process store network office'
).split(' ');

/** Deterministic pseudo-random bytes: an AES-128-CTR keystream for a seed. */
function randomBytesFor(seed: number, length: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed, 0);
  key.write('bootos-bench', 4);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Text-like bytes: words picked by the keystream, lines of ~80 characters. */
function textBytesFor(seed: number, length: number): Buffer {
  const picks = randomBytesFor(seed ^ 0x5a5a5a5a, length);
  const out = Buffer.alloc(length);
  let at = 0;
  let line = 0;
  for (let i = 0; at < length; i++) {
    const word = WORDS[picks[i % picks.length]! % WORDS.length]!;
    const sep = line + word.length > 78 ? '\n' : ' ';
    line = sep === '\n' ? 0 : line + word.length + 1;
    at += out.write(word + sep, at);
  }
  return out;
}

export interface MixedImage {
  dir: string;
  files: number;
  bytes: number;
}

/** Writes images/<name>-style folder `dir` (image.yaml + data/) holding about `totalBytes` of files. */
export async function writeMixedImage(dir: string, totalBytes: number, name = 'bench', version = '1.0.0'): Promise<MixedImage> {
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(
    join(dir, 'image.yaml'),
    `name: ${name}\nversion: ${version}\ndescription: benchmark image with mixed files\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: data\n    to: /data\n`,
  );
  // Byte shares: 40% small files (4–64 KiB), 35% medium (256 KiB–2 MiB), 25% large (8 MiB).
  const plan: { share: number; min: number; max: number }[] = [
    { share: 0.4, min: 4 << 10, max: 64 << 10 },
    { share: 0.35, min: 256 << 10, max: 2 << 20 },
    { share: 0.25, min: 8 << 20, max: 8 << 20 },
  ];
  let files = 0;
  let bytes = 0;
  let seed = 1;
  for (const { share, min, max } of plan) {
    let left = Math.floor(totalBytes * share);
    while (left > 0) {
      const span = max - min;
      const size = Math.min(left, min + (span ? (seed * 2654435761) % span : 0));
      const text = seed % 2 === 0;
      const data = text ? textBytesFor(seed, size) : randomBytesFor(seed, size);
      const sub = join(dir, 'data', `d${seed % 16}`, `e${(seed >> 4) % 8}`);
      await mkdir(sub, { recursive: true });
      await writeFile(join(sub, `f${seed}.${text ? 'txt' : 'bin'}`), data);
      files++;
      bytes += size;
      left -= size;
      seed++;
    }
  }
  return { dir, files, bytes };
}
