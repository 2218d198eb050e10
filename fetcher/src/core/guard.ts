// Type guards for untrusted or user-written documents. Everything parsed from bytes is `unknown` until a guard
// has checked it field by field; every error names the field (`images.hello.digest: expected a sha256 digest`).
import { didYouMean } from './did-you-mean.js';
import { BootosError, type ErrorCode } from './error.js';

export class Reader {
  constructor(
    readonly code: ErrorCode,
    readonly where: string,
  ) {}

  fail(path: string, message: string): never {
    throw new BootosError(this.code, `${this.where}: ${path ? `${path}: ` : ''}${message}`);
  }

  /** An object whose keys are all in `allowed`; an unknown key is an error naming it. */
  object(value: unknown, path: string, allowed?: readonly string[]): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'expected an object');
    if (allowed) {
      for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) this.fail(path ? `${path}.${key}` : key, `unknown field${didYouMean(key, allowed)}`);
      }
    }
    return value as Record<string, unknown>;
  }

  string(value: unknown, path: string, pattern?: RegExp, hint?: string): string {
    if (typeof value !== 'string') this.fail(path, 'expected a string');
    if (pattern && !pattern.test(value)) this.fail(path, hint ?? `does not match ${pattern}`);
    return value;
  }

  integer(value: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(path, `expected an integer from ${min} to ${max}`);
    }
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value !== 'boolean') this.fail(path, 'expected true or false');
    return value;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, 'expected a list');
    return value;
  }

  stringArray(value: unknown, path: string): string[] {
    return this.array(value, path).map((item, i) => this.string(item, `${path}[${i}]`));
  }

  oneOf<T extends string>(value: unknown, path: string, choices: readonly T[]): T {
    if (typeof value !== 'string' || !choices.includes(value as T)) this.fail(path, `expected one of ${choices.join(', ')}`);
    return value as T;
  }

  required<T>(object: Record<string, unknown>, key: string, path: string, read: (value: unknown, path: string) => T): T {
    const field = path ? `${path}.${key}` : key;
    if (object[key] === undefined) this.fail(field, 'required field is missing');
    return read(object[key], field);
  }

  optional<T>(object: Record<string, unknown>, key: string, path: string, read: (value: unknown, path: string) => T): T | undefined {
    return object[key] === undefined ? undefined : read(object[key], path ? `${path}.${key}` : key);
  }
}

export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
export const IMAGE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export function parseJson(bytes: Buffer | string, where: string): unknown {
  try {
    return JSON.parse(bytes.toString());
  } catch (err) {
    throw new BootosError('JSON_INVALID', `${where}: not valid JSON`, { cause: err });
  }
}
