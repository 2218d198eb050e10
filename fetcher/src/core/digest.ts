// Content digests as OCI writes them: "sha256:<64 hex>".
import { createHash } from 'node:crypto';

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
