// Which destinations cost a SNAT port. Azure's load balancer (or NAT gateway) translates only traffic that leaves
// for a public address: the runbook counts "ESTABLISHED connections to public IPs" and ignores private ones
// (research/tool-output-formats.md §7). Everything here works on the socket's own addresses, which is what
// /proc/net/tcp and tcptracer report.
import ipaddr from 'ipaddr.js';
import { SnatDoctorError } from '../errors.ts';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

// Destinations that never go through SNAT, whatever the cluster.
const NOT_SNAT_V4 = [
  '10.0.0.0/8', // RFC 1918
  '172.16.0.0/12', // RFC 1918
  '192.168.0.0/16', // RFC 1918
  '100.64.0.0/10', // shared address space (RFC 6598): often the pod CIDR of overlay clusters
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local: IMDS (169.254.169.254) never leaves the host
  '168.63.129.16/32', // Azure platform virtual IP (DNS, agent, health probes): host-local platform traffic
  '0.0.0.0/8', // "this network"
  '224.0.0.0/4', // multicast: not TCP, never SNAT'd
  '240.0.0.0/4', // reserved, and 255.255.255.255 (limited broadcast) within it
];
const NOT_SNAT_V6 = [
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  '::1/128', // loopback
  '::/128', // unspecified
  'ff00::/8', // multicast
];

const BUILT_IN: Range[] = [...NOT_SNAT_V4, ...NOT_SNAT_V6].map((cidr) => ipaddr.parseCIDR(cidr));

function parseClusterCidr(cidr: string): Range {
  try {
    return ipaddr.parseCIDR(cidr.trim());
  } catch (error) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `cluster CIDR ${JSON.stringify(cidr)} is not valid: give an IPv4 or IPv6 range like 10.244.0.0/16 or fd00::/8.`,
      { cause: error, context: { cidr } },
    );
  }
}

/**
 * Parses an address as the evidence spells it: dotted-quad IPv4 or IPv6 (a zone id like `%eth0` is allowed).
 * `::ffff:a.b.c.d` is unwrapped to its IPv4 address, since that is where the packets go. Undefined when invalid;
 * ipaddr.js's lenient IPv4 forms (`10`, `0x0a.1`) are refused on purpose: no tool prints them.
 */
function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  if (!ipaddr.IPv6.isValid(ip)) return undefined;
  const v6 = ipaddr.IPv6.parse(ip);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * Builds a classifier for one cluster: `true` when traffic to `ip` is SNAT'd (a public destination). The cluster's own
 * pod, service and VNet ranges are not SNAT'd even when they are public blocks used privately. Ranges are parsed
 * once here, so classifying thousands of sockets does not re-parse them. An invalid CIDR throws BAD_ARGUMENT naming
 * it; an invalid `ip` is simply not SNAT'd (it cannot be counted against a destination anyway).
 */
export function snatClassifier(clusterCidrs: string[]): (ip: string) => boolean {
  const ranges = [...BUILT_IN, ...clusterCidrs.map(parseClusterCidr)];
  // ipaddr.js throws when matching an IPv4 address against an IPv6 range, so keep one list per family.
  const v4 = ranges.filter((r) => r[0].kind() === 'ipv4');
  const v6 = ranges.filter((r) => r[0].kind() === 'ipv6');
  // An address is classified once per classifier: a pod's rows and sockets name the same destinations many times.
  const known = new Map<string, boolean>();
  return (ip: string): boolean => {
    let snat = known.get(ip);
    if (snat === undefined) {
      const address = parseIp(ip);
      snat = address !== undefined && !(address.kind() === 'ipv4' ? v4 : v6).some((range) => address.match(range));
      if (known.size >= KNOWN_HELD) known.clear();
      known.set(ip, snat);
    }
    return snat;
  };
}

/** Addresses a classifier remembers at most (then it starts over). */
const KNOWN_HELD = 1 << 16;

/** One-off form of {@link snatClassifier}; prefer the classifier when classifying many addresses. */
export function isSnatDestination(ip: string, clusterCidrs: string[] = []): boolean {
  return snatClassifier(clusterCidrs)(ip);
}
