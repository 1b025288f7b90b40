// Command-line parsing shared by every CLI of the project: node:util's parseArgs, strict, with its
// errors turned into one line naming the flag (cobra's wording: "unknown flag: --x"). A UsageError
// means "print that line, a blank line and the usage, exit 2" (usageFailure does that).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** parseArgs (strict unless the config says otherwise); any parse failure becomes a UsageError with one line naming the flag. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
}

/** One line for a parseArgs error: which flag, and what is wrong with it. */
export function describeParseError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const flag = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag: ${flag ?? message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(message) ? `flag needs an argument: ${flag ?? message}` : `invalid value for ${flag ?? 'a flag'}: ${message.split('\n')[0]}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument: ${/'([^']*)'/.exec(message)?.[1] ?? message}`;
    default:
      return message.split('\n')[0] ?? message;
  }
}

/**
 * kubectl-style booleans: `--watch=false` / `--watch=true` become `--no-watch` / `--watch`
 * (parseArgs knows only the bare and --no- forms; parse with allowNegative). Any other value is a
 * UsageError naming the flag.
 */
export function normalizeBooleans(argv: string[], booleans: readonly string[]): string[] {
  return argv.map((arg) => {
    const m = /^--([^=]+)=(.*)$/.exec(arg);
    if (m === null || !booleans.includes(m[1] ?? '')) {
      return arg;
    }
    const value = (m[2] ?? '').toLowerCase();
    if (value === 'true' || value === '1') {
      return `--${m[1]}`;
    }
    if (value === 'false' || value === '0') {
      return `--no-${m[1]}`;
    }
    throw new UsageError(`invalid argument ${JSON.stringify(m[2])} for "--${m[1]}" flag: not true or false`);
  });
}

/** A Go-style duration (500ms, 15s, 1m30s, 0) in milliseconds, or a UsageError naming the flag. */
export function durationFlag(flag: string, value: string): number {
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    if (m.index !== consumed) {
      break;
    }
    consumed += m[0].length;
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  if (value === '0') {
    return 0;
  }
  if (value === '' || consumed !== value.length) {
    throw new UsageError(`invalid argument ${JSON.stringify(value)} for "--${flag}" flag: not a duration (examples: 500ms, 15s, 1m30s)`);
  }
  return total;
}

/** Parses a non-negative integer flag value or throws a UsageError naming the flag. */
export function integerFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`invalid argument ${JSON.stringify(value)} for "--${flag}" flag: not a non-negative integer`);
  }
  return Number(value);
}

/** Prints "<program>: <one line>", a blank line and the usage to stderr; returns exit code 2. */
export function usageFailure(program: string, err: UsageError, usage: string): number {
  process.stderr.write(`${program}: ${err.message}\n\n${usage}`);
  return 2;
}
