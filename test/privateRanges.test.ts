// Ranges as the asker writes them (the app setting, the CLI flag) and their merge into the facts' own.
import { describe, expect, test } from '@jest/globals';
import { mergePrivateRanges, parseCidr, parsePrivateRanges } from '../lib/privateRanges.ts';

describe('parseCidr', () => {
  test.each([
    ['30.10.0.0/16', '30.10.0.0/16'],
    [' 10.1.2.3/32 ', '10.1.2.3/32'],
    ['fd00:10::/64', 'fd00:10::/64'],
    ['0.0.0.0/0', '0.0.0.0/0'],
  ])('%j is a range', (given, expected) => {
    expect(parseCidr(given)).toBe(expected);
  });

  test.each([
    ['a bare address', '30.10.0.1'],
    ['a prefix too long for IPv4', '30.10.0.0/33'],
    ['a prefix too long for IPv6', 'fd00::/129'],
    ['a lenient IPv4 form', '10/8'],
    ['hex', '0x0a.0.0.0/8'],
    ['a name', 'onprem/16'],
    ['an empty prefix', '10.0.0.0/'],
    ['a negative prefix', '10.0.0.0/-1'],
  ])('%s is not', (_, given) => {
    expect(parseCidr(given)).toBeUndefined();
  });
});

describe('parsePrivateRanges', () => {
  test('a comma-separated list: blanks ignored, repeats once, every bad entry named', () => {
    expect(parsePrivateRanges('30.10.0.0/16, ,172.31.0.0/16,30.10.0.0/16,onprem,10.0.0.1', 'setting')).toEqual({
      ranges: [
        { cidr: '30.10.0.0/16', source: 'setting' },
        { cidr: '172.31.0.0/16', source: 'setting' },
      ],
      invalid: ['onprem', '10.0.0.1'],
    });
  });
});

describe('mergePrivateRanges', () => {
  test('by CIDR, the first mention kept (the facts before what the asker adds)', () => {
    expect(
      mergePrivateRanges([{ cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-prod' }], undefined, [
        { cidr: '30.10.0.0/16', source: 'flag' },
        { cidr: 'FD00::/8', source: 'setting' },
        { cidr: 'fd00::/8', source: 'flag' },
      ]),
    ).toEqual([
      { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: 'FD00::/8', source: 'setting' },
    ]);
  });
});
