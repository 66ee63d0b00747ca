import { describe, expect, test } from '@jest/globals';
import { isSnatDestination, snatClassifier } from '../../lib/analysis/snatDestination.ts';
import { SnatDoctorError } from '../../lib/errors.ts';

describe("which destinations are SNAT'd (public)", () => {
  test.each([
    // Public: these cost a SNAT port.
    ['8.8.8.8', true, 'a public resolver'],
    ['20.50.2.1', true, 'an Azure public IP'],
    ['172.32.0.1', true, 'just above 172.16.0.0/12'],
    ['100.128.0.1', true, 'just above 100.64.0.0/10'],
    ['168.63.129.17', true, 'the address next to the Azure platform IP'],
    ['2001:4860:4860::8888', true, 'public IPv6'],
    ['::ffff:8.8.8.8', true, 'a v4-mapped public address, unwrapped'],
    // Not SNAT'd.
    ['10.1.2.3', false, 'RFC 1918 10/8'],
    ['172.16.0.1', false, 'RFC 1918 172.16/12'],
    ['172.31.255.255', false, 'the top of 172.16/12'],
    ['192.168.1.1', false, 'RFC 1918 192.168/16'],
    ['100.64.0.1', false, 'shared address space (overlay pod CIDRs)'],
    ['127.0.0.1', false, 'loopback'],
    ['169.254.169.254', false, 'IMDS, link-local'],
    ['168.63.129.16', false, 'the Azure platform virtual IP'],
    ['0.0.0.0', false, '"this network"'],
    ['224.0.0.1', false, 'multicast'],
    ['255.255.255.255', false, 'limited broadcast'],
    ['::ffff:10.0.0.1', false, 'a v4-mapped private address, unwrapped'],
    ['::ffff:168.63.129.16', false, 'the platform IP, v4-mapped'],
    ['fd00::1', false, 'unique local'],
    ['fc00::1', false, 'unique local (fc00::/7 lower half)'],
    ['fe80::1', false, 'link-local'],
    ['fe80::1%eth0', false, 'link-local with a zone id'],
    ['::1', false, 'IPv6 loopback'],
    ['::', false, 'unspecified'],
    ['ff02::1', false, 'IPv6 multicast'],
    // Not addresses: never counted.
    ['not-an-ip', false, 'text'],
    ['', false, 'empty'],
    ['10', false, "ipaddr.js's lenient single-number IPv4 form"],
    ['010.0.0.1', false, 'a leading zero (octal in some parsers)'],
    ['[::1]', false, 'a bracketed address'],
    ['8.8.8.8:443', false, 'an address with a port'],
  ])('%s → %s (%s)', (ip, snat) => {
    expect(isSnatDestination(ip)).toBe(snat);
  });
});

describe("the cluster's own ranges", () => {
  // A VNet using a public block privately, and an IPv6 pod range.
  const isSnat = snatClassifier(['20.0.0.0/16', '2603:1000::/32', ' 52.1.0.0/24 ']);

  test.each([
    ['20.0.1.1', false, 'inside a cluster CIDR'],
    ['::ffff:20.0.0.5', false, 'v4-mapped, inside a cluster CIDR'],
    ['20.1.0.1', true, 'just outside it'],
    ['2603:1000::1', false, 'inside the IPv6 cluster CIDR'],
    ['2603:1001::1', true, 'outside the IPv6 cluster CIDR'],
    ['52.1.0.200', false, 'a CIDR given with surrounding spaces'],
    ['10.0.0.1', false, 'the built-in private ranges still apply'],
  ])('%s → %s (%s)', (ip, snat) => {
    expect(isSnat(ip)).toBe(snat);
  });

  test('a classifier remembers its answers, and answers alike past the 65,536 addresses it holds', () => {
    // 20.0.x.y (inside the cluster's 20.0.0.0/16) and 21.0.x.y (public), asked twice over.
    const ips = Array.from({ length: 70_000 }, (_, i) => `${20 + (i & 1)}.0.${(i >> 9) & 255}.${(i >> 1) & 255}`);
    for (const round of [1, 2]) {
      expect({ round, snat: ips.filter((ip) => isSnat(ip)).length }).toEqual({ round, snat: 35_000 });
    }
  });

  test('no cluster CIDRs: the built-in ranges alone', () => {
    expect(snatClassifier([])('20.0.1.1')).toBe(true);
    expect(isSnatDestination('20.0.1.1', ['20.0.0.0/16'])).toBe(false);
  });

  test.each(['10.0.0.0/33', 'banana', '10.0.0.0', 'fd00::/129', ''])(
    'an invalid cluster CIDR %j is refused with BAD_ARGUMENT naming it',
    (cidr) => {
      const attempt = () => snatClassifier(['10.244.0.0/16', cidr]);
      expect(attempt).toThrow(SnatDoctorError);
      expect(attempt).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
      expect(attempt).toThrow(`cluster CIDR ${JSON.stringify(cidr)} is not valid`);
    },
  );
});
