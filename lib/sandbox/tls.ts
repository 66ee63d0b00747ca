// The sandbox's TLS certificate: generated at start, self-signed for 127.0.0.1 and localhost, and trusted only by the
// clients the sandbox hands it to (the SDK clients' `tlsOptions.ca`, the kubeconfig's certificate-authority-data). The
// Azure SDKs refuse bearer tokens over plain HTTP, so the sandbox speaks HTTPS like the services it stands in for.
import { generate } from 'selfsigned';

export interface SandboxCertificate {
  /** PEM private key, for the loopback servers. */
  key: string;
  /** PEM certificate; being self-signed, it is also the CA clients must trust. */
  cert: string;
}

export async function createSandboxCertificate(now: Date = new Date()): Promise<SandboxCertificate> {
  const notAfter = new Date(now.getTime() + 7 * 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'snat-doctor sandbox' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
