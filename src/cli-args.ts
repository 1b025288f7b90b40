// The command-line edge every CLI of the project shares (the manager, the cluster and demo scripts,
// the benchmarks): a bad command line is one line naming the flag, then the usage, exit code 2 —
// never a stack trace from node:util's parseArgs.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the program cannot run with: exit 2 with the usage, as Go's flag package does. */
export class UsageError extends Error {}

/** parseArgs (strict) with its errors turned into UsageErrors that name the flag. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config); // strict unless the caller says otherwise
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
}

function describeParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${quoted}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted.split(' ')[0] ?? quoted;
      if (message.includes('does not take an argument')) {
        return `flag ${flag} takes no value`;
      }
      return message.includes('ambiguous') ? `flag ${flag} needs a value (write ${flag}=VALUE for one that starts with "-")` : `flag ${flag} needs a value`;
    }
    default:
      return message;
  }
}

/** An integer flag value within [min, max], or a UsageError naming the flag. */
export function integerFlag(flag: string, value: string, bounds: { min: number; max?: number }): number {
  const n = Number(value);
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (value.trim() === '' || !Number.isInteger(n) || n < bounds.min || n > max) {
    const range = bounds.max === undefined ? `>= ${bounds.min}` : `between ${bounds.min} and ${bounds.max}`;
    throw new UsageError(`--${flag}: ${JSON.stringify(value)} must be an integer ${range}`);
  }
  return n;
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
    throw new UsageError(`--${m[1]}: ${JSON.stringify(m[2])} is not true or false`);
  });
}

/** Go-style durations: 500ms, 15s, 1m30s (a UsageError naming the flag otherwise). */
export function parseDuration(flag: string, value: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(re)) {
    if (m.index !== consumed) {
      break;
    }
    consumed += m[0].length;
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  if (value === '' || consumed !== value.length) {
    throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not a duration (examples: 500ms, 15s, 1m30s)`);
  }
  return total;
}

/** Reports a UsageError as every CLI does ("NAME: message" and the usage on stderr); returns 2. */
export function usageFailure(name: string, err: UsageError, usage: string): number {
  return report(name, usage, err);
}

/** Prints an error as a CLI reports it; returns the exit code (2 for a UsageError, else 1). */
function report(name: string, usage: string, err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`${name}: ${err.message}\n${usage.trimEnd()}\n`);
    return 2;
  }
  process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

/**
 * Runs a CLI's main: a UsageError prints "NAME: message" and the usage on stderr and exits 2;
 * any other error prints "NAME: message" (its own words, no stack) and exits 1.
 */
export function runCommandLine(name: string, usage: string, main: () => Promise<void> | void): void {
  const fail = (err: unknown): void => {
    process.exitCode = report(name, usage, err);
  };
  try {
    Promise.resolve(main()).catch(fail);
  } catch (err) {
    fail(err);
  }
}

/** For scripts that run at top level: parse (and validate) the command line, or report and exit. */
export function commandLineOrExit<R>(name: string, usage: string, parse: () => R): R {
  try {
    return parse();
  } catch (err) {
    process.exit(report(name, usage, err));
  }
}
