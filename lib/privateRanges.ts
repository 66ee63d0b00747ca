// Ranges the cluster reaches without SNAT, as the asker gives them (the app setting SNAT_DOCTOR_PRIVATE_RANGES, the
// CLI's --private-range) and as the facts and the request are merged (locateNode). The analysis reads the result
// from ClusterFacts.privateRanges.
import ipaddr from 'ipaddr.js';
import type { PrivateRange, PrivateRangeSource } from './model.ts';

/** What a range looks like, for messages. */
export const CIDR_EXAMPLE = '30.10.0.0/16 or fd00:10::/64';

/**
 * A CIDR range as written (trimmed), or undefined when it is not one: an IPv4 dotted quad or an IPv6 address, then
 * `/` and a prefix length that fits the family. A bare address is refused (write it as /32 or /128), and so are
 * ipaddr.js's lenient IPv4 forms (`10/8`, `0x0a.0.0.0/8`) that no one means.
 */
export function parseCidr(text: string): string | undefined {
  const value = text.trim();
  const slash = value.lastIndexOf('/');
  if (slash < 0) return undefined;
  const address = value.slice(0, slash);
  if (!ipaddr.IPv4.isValidFourPartDecimal(address) && !ipaddr.IPv6.isValid(address)) return undefined;
  if (!/^\d{1,3}$/.test(value.slice(slash + 1))) return undefined;
  try {
    ipaddr.parseCIDR(value);
  } catch {
    return undefined;
  }
  return value;
}

/**
 * A comma-separated list of CIDRs (blanks and surrounding spaces ignored) → the ranges with `source`, and each entry
 * that is not a CIDR, as written.
 */
export function parsePrivateRanges(
  list: string,
  source: PrivateRangeSource,
): { ranges: PrivateRange[]; invalid: string[] } {
  const ranges: PrivateRange[] = [];
  const invalid: string[] = [];
  for (const entry of list.split(',')) {
    if (entry.trim() === '') continue;
    const cidr = parseCidr(entry);
    if (cidr === undefined) invalid.push(entry.trim());
    else ranges.push({ cidr, source });
  }
  return { ranges: mergePrivateRanges(ranges), invalid };
}

/** Ranges without repeats (by CIDR, as written): the first mention, and so its source, is kept. */
export function mergePrivateRanges(...lists: (readonly PrivateRange[] | undefined)[]): PrivateRange[] {
  const seen = new Set<string>();
  const merged: PrivateRange[] = [];
  for (const range of lists.flatMap((list) => list ?? [])) {
    const key = range.cidr.trim().toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push(range);
  }
  return merged;
}
