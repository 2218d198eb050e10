// The small frame every `bootos` verb is written in: typed options, --help, coded errors, exit codes
// (0 ok, 1 failure with a coded error, 2 usage error). Results go to stdout; status and progress to stderr.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BootosError } from '../core/error.js';
import { didYouMean } from '../core/did-you-mean.js';
import { parseRegistryLocation } from '../formats/registry-url.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command<O extends Options = Options> {
  /** Words that select the verb, e.g. "key generate". */
  name: string;
  summary: string;
  /** One usage line after `bootos <name>`. */
  usage: string;
  /** Help lines for each option, by option name. */
  help?: Record<string, string>;
  /** Text shown after the options in --help. */
  details?: string;
  options: O;
  positionals?: { min: number; max: number };
  run(values: ParsedValues<O>, positionals: string[]): Promise<number | void>;
}

export type ParsedValues<O extends Options> = {
  [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string;
};

/**
 * A verb with typed option values inside `run`. What it returns is a plain Command, so that verbs with different
 * options go in one list; the values `run` sees are the ones parseArgs produced from the same `options`.
 */
export function defineCommand<O extends Options>(command: Command<O>): Command {
  return command as unknown as Command;
}

export function status(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function helpText(cmd: Command): string {
  const lines = [`bootos ${cmd.name} — ${cmd.summary}`, '', `usage: bootos ${cmd.name} ${cmd.usage}`.trimEnd()];
  const names = Object.keys(cmd.options);
  if (names.length) {
    lines.push('', 'options:');
    for (const name of names) {
      const o = cmd.options[name]!;
      const flag = `--${name}${o.type === 'string' ? ' VALUE' : ''}${o.short ? `, -${o.short}` : ''}`;
      lines.push(`  ${flag.padEnd(26)} ${cmd.help?.[name] ?? ''}`.trimEnd());
    }
  }
  lines.push(`  ${'--help, -h'.padEnd(26)} show this help`);
  if (cmd.details) lines.push('', cmd.details.trim());
  return `${lines.join('\n')}\n`;
}

export function usageError(message: string): BootosError {
  return new BootosError('USAGE', message);
}

/**
 * Node's parser's complaint as a USAGE error a person can act on: an unknown option names the nearest one the verb
 * has (`--regsitry` → `--registry`); a missing value says which option wants one.
 */
function parseFailure(cmd: Command, err: unknown): BootosError {
  const message = (err as Error).message;
  const code = (err as { code?: unknown }).code;
  const unknown = /^Unknown option '(-{1,2})([^'=]+)/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const [, dashes, name] = unknown;
    const known = dashes === '--' ? [...Object.keys(cmd.options), 'help'] : Object.values(cmd.options).flatMap((o) => (o.short ? [o.short] : []));
    const hint = didYouMean(name!, known, (k) => `${dashes}${k}`) || ` (see bootos ${cmd.name} --help)`;
    return usageError(`unknown option ${dashes}${name}${hint}`);
  }
  const missing = /^Option '(?:-\w, )?(-\S+) <value>' argument missing/.exec(message);
  if (missing) return usageError(`${missing[1]} needs a value`);
  const noValue = /^Option '(?:-\w, )?(-\S+)' does not take an argument/.exec(message);
  if (noValue) return usageError(`${noValue[1]} takes no value`);
  return usageError(message);
}

/** Runs one command with its arguments; returns the process exit code. */
export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText(cmd));
    return 0;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: cmd.options, allowPositionals: true, strict: true });
    } catch (err) {
      throw parseFailure(cmd, err);
    }
    const { min, max } = cmd.positionals ?? { min: 0, max: 0 };
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw usageError(`expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}`);
    }
    return (await cmd.run(parsed.values as ParsedValues<Options>, parsed.positionals)) ?? 0;
  } catch (err) {
    if (err instanceof BootosError) {
      process.stderr.write(`bootos ${cmd.name}: error ${err.code}: ${err.message}\n`);
      if (err.code === 'USAGE') process.stderr.write(`usage: bootos ${cmd.name} ${cmd.usage}\n`);
      return err.code === 'USAGE' ? 2 : 1;
    }
    process.stderr.write(`bootos ${cmd.name}: unexpected error: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) throw usageError(`--${flag} is required`);
  return value;
}

/**
 * The registry a verb works on: `--registry LOCATION`, or the older spelling (kept as an alias for one release) with
 * the registry as an extra first argument. Returns it and the positionals that remain (`expected` of them).
 */
export function registryArgument(verb: string, flag: string | undefined, positionals: string[], expected: number): { registry: string; rest: string[] } {
  if (flag !== undefined) {
    if (positionals.length !== expected) throw usageError(`expected ${expected} argument(s) besides --registry, got ${positionals.length}`);
    return { registry: flag, rest: positionals };
  }
  if (positionals.length === expected + 1) {
    status(`bootos ${verb}: note: the registry as the first argument is an old spelling; write --registry ${positionals[0]}`);
    return { registry: positionals[0]!, rest: positionals.slice(1) };
  }
  throw usageError('--registry is required');
}

/**
 * A registry directory that a verb writes or serves (root, publish, channel sign, serve, push's source), read by the
 * one grammar of registry locations: a URL, HOST:PORT or HOST/PATH is refused with a hint instead of becoming a new
 * folder named after it.
 */
export function registryDirectory(location: string): string {
  const parsed = parseRegistryLocation(location);
  if (parsed.kind !== 'dir') throw usageError(`--registry ${location}: this verb needs a registry directory, not a URL (bootos serve makes a directory an http:// registry, bootos push copies one to an OCI registry)`);
  return parsed.path;
}
