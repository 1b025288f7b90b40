import { describe, expect, it } from '@jest/globals';
import { integerFlag, normalizeBooleans, parseCommandLine, UsageError } from '../../src/cli-args.js';

const options = { nodes: { type: 'string' }, quick: { type: 'boolean' } } as const;

describe('command-line edge', () => {
  it.each([
    [['--real-node'], 'unknown flag --real-node'],
    [['-x'], 'unknown flag -x'],
    [['--nodes'], 'flag --nodes needs a value'],
    [['--nodes', '-5'], 'flag --nodes needs a value (write --nodes=VALUE for one that starts with "-")'],
    [['--quick=yes'], 'flag --quick takes no value'],
    [['up'], 'unexpected argument "up"'],
  ])('turns %j into one line naming the flag', (args, message) => {
    const parse = (): unknown => parseCommandLine({ args, options });
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(new UsageError(message));
  });

  it('parses what it is given', () => {
    expect(parseCommandLine({ args: ['--nodes', '3', '--quick'], options }).values).toEqual({ nodes: '3', quick: true });
  });

  it('checks integer values and their bounds', () => {
    expect(integerFlag('nodes', '3', { min: 0 })).toBe(3);
    expect(() => integerFlag('nodes', 'three', { min: 0 })).toThrow('--nodes: "three" must be an integer >= 0');
    expect(() => integerFlag('port', '70000', { min: 1, max: 65535 })).toThrow('--port: "70000" must be an integer between 1 and 65535');
    expect(() => integerFlag('nodes', '', { min: 0 })).toThrow(UsageError);
  });
});

describe('kubectl-style booleans', () => {
  it('--flag=true|false become --flag / --no-flag; anything else names the flag', () => {
    expect(normalizeBooleans(['--watch=false', '--watch=true', '--x=1'], ['watch'])).toEqual(['--no-watch', '--watch', '--x=1']);
    expect(() => normalizeBooleans(['--watch=maybe'], ['watch'])).toThrow(new UsageError('--watch: "maybe" is not true or false'));
  });
});
