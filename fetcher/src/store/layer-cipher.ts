// The layer cipher AES_256_GCM_STREAM_64K (formats/layer-encryption.ts): a random 32-byte content key per layer,
// the plain layer (the compressed tar) cut into 64 KiB segments, each sealed by AES-256-GCM with
//   nonce = segment number (11 bytes, big-endian) ‖ last (1 byte: 1 on the final segment, else 0)
// and written as ciphertext ‖ 16-byte tag. This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár
// 2015) as age uses it: each segment is authenticated before a byte of it is released, so nothing unauthenticated
// reaches gunzip or the tar parser; reordering, dropping or truncating segments fails (the nonce carries the number
// and the final flag). Every segment is full except the final one (0–64 KiB; empty only for an empty layer).
// Streams both ways with bounded buffers (one segment).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BootosError } from '../core/error.js';

export const SEGMENT_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const SEALED_SEGMENT = SEGMENT_BYTES + TAG_BYTES;

function nonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // 48 bits of counter (bytes 5–10) are plenty: 2⁴⁸ × 64 KiB
  n[11] = last ? 1 : 0;
  return n;
}

/** Size of the ciphertext of `plainBytes` bytes. */
export function sealedSize(plainBytes: number): number {
  const segments = Math.max(1, Math.ceil(plainBytes / SEGMENT_BYTES));
  return plainBytes + segments * TAG_BYTES;
}

/** Gathers incoming chunks and hands out pieces of exactly `n` bytes. */
class Gather {
  private chunks: Buffer[] = [];
  bytes = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let first = this.chunks[0]!;
    if (first.length >= n) {
      const piece = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.bytes -= n;
      return piece;
    }
    const piece = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      first = this.chunks[0]!;
      const used = Math.min(first.length, n - at);
      first.copy(piece, at, 0, used);
      at += used;
      if (used === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(used);
    }
    this.bytes -= n;
    return piece;
  }
}

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new Error('a layer content key is 32 bytes');
}

/** Plain layer bytes in, ciphertext out. */
export class LayerEncipher extends Transform {
  private readonly gather = new Gather();
  private counter = 0;

  constructor(private readonly key: Buffer) {
    super();
    checkKey(key);
  }

  private segment(plain: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.counter++, last));
    this.push(Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.gather.push(chunk);
    // A full segment is sealed only once a byte after it has come: the final segment must carry the flag.
    while (this.gather.bytes > SEGMENT_BYTES) this.segment(this.gather.take(SEGMENT_BYTES), false);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.segment(this.gather.take(this.gather.bytes), true);
    done();
  }
}

/** Ciphertext in, authenticated plain bytes out; IMAGE_DECRYPT_FAILED on the first segment that does not open. */
export class LayerDecipher extends Transform {
  private readonly gather = new Gather();
  private counter = 0;

  constructor(
    private readonly key: Buffer,
    private readonly what: string,
  ) {
    super({ readableHighWaterMark: 256 * 1024 });
    checkKey(key);
  }

  private open(sealed: Buffer, last: boolean): Buffer {
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce(this.counter, last));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      const plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
      this.counter++;
      return plain;
    } catch (err) {
      throw new BootosError(
        'IMAGE_DECRYPT_FAILED',
        `${this.what}: segment ${this.counter}${last ? ' (the last)' : ''} does not authenticate under the layer's key: the ciphertext or its key was altered, cut short or reordered`,
        { cause: err },
      );
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.gather.push(chunk);
    try {
      while (this.gather.bytes > SEALED_SEGMENT) this.push(this.open(this.gather.take(SEALED_SEGMENT), false));
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.gather.bytes < TAG_BYTES) throw new BootosError('IMAGE_DECRYPT_FAILED', `${this.what}: the ciphertext ends inside a segment (cut short)`);
      this.push(this.open(this.gather.take(this.gather.bytes), true));
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }
}
