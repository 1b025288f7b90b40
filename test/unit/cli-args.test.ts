import { describe, expect, it } from '@jest/globals';
import { describeParseError, durationFlag, integerFlag, normalizeBooleans, parseCommandLine, UsageError } from '../../src/cli-args.js';

describe('cli-args', () => {
  it('turns parse errors into one line naming the flag', () => {
    const parse = (args: string[]) => parseCommandLine({ args, options: { timeout: { type: 'string' } } });
    expect(() => parse(['--bogus'])).toThrow(new UsageError('unknown flag: --bogus'));
    expect(() => parse(['--timeout'])).toThrow(new UsageError('flag needs an argument: --timeout'));
    expect(() => parse(['x'])).toThrow(new UsageError('unexpected argument: x'));
    expect(describeParseError(new Error('first\nsecond'))).toBe('first');
  });
  it('kubectl-style booleans and durations', () => {
    expect(normalizeBooleans(['--watch=false', '--watch=true', '--x=1'], ['watch'])).toEqual(['--no-watch', '--watch', '--x=1']);
    expect(() => normalizeBooleans(['--watch=maybe'], ['watch'])).toThrow('invalid argument "maybe" for "--watch" flag: not true or false');
    expect(durationFlag('timeout', '1m30s')).toBe(90_000);
    expect(durationFlag('timeout', '0')).toBe(0);
    expect(() => durationFlag('timeout', 'soon')).toThrow('for "--timeout" flag');
    expect(integerFlag('revision', undefined, 0)).toBe(0);
    expect(integerFlag('revision', '12', 0)).toBe(12);
    expect(() => integerFlag('revision', '-1', 0)).toThrow('invalid argument "-1" for "--revision" flag: not a non-negative integer');
  });
});
