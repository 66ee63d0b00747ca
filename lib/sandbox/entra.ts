// The sandbox's stand-in for Entra ID. A token is a JWT as Entra ID issues them (header.payload.signature, base64url),
// carrying what Azure's services check: `aud`, the resource the token was asked for (the scope without `/.default`),
// and `oid`, the principal; signed with the sandbox's secret (HMAC-SHA256) so that its endpoints can tell their own
// tokens. The endpoints then refuse a token for another audience the way Azure does (armServer.ts), which is how a
// test sees an adapter ask for the wrong scope.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The principal the sandbox's credential signs in as: the app's managed identity (scenario `azure.principalId`). */
export const SANDBOX_PRINCIPAL_ID = '00000000-0000-0000-0000-00000000d0c7';
export const SANDBOX_TENANT_ID = '72f988bf-0000-4000-8000-00000000aa01';

/**
 * The audiences each service accepts. ARM: the four spellings its InvalidAuthenticationTokenAudience message lists.
 * The metrics batch API (metrics:getBatch): the scope its REST spec declares, `https://metrics.monitor.azure.com/.default`
 * (azure-rest-api-specs, monitor data-plane metricBatch; the Java SDK's MetricsAudience.AZURE_PUBLIC_CLOUD). Whether the
 * real service also takes an ARM token is not settled here (infra/README.md, "Not settled here"): the sandbox takes only
 * the spec's.
 */
export const AUDIENCES = {
  arm: [
    'https://management.core.windows.net/',
    'https://management.core.windows.net',
    'https://management.azure.com/',
    'https://management.azure.com',
  ],
  metrics: ['https://metrics.monitor.azure.com'],
} as const;

export interface EntraClaims {
  aud: string;
  oid: string;
  tid: string;
  exp: number;
}

/** The resource a scope asks for: `https://metrics.monitor.azure.com/.default` → `https://metrics.monitor.azure.com`. */
export function audienceOf(scope: string): string {
  return scope.replace(/\/\.default$/, '');
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** A token for `scope`, as the sandbox's Entra ID would issue it to `principalId`. */
export function issueToken(secret: string, scope: string, principalId = SANDBOX_PRINCIPAL_ID): string {
  const claims: EntraClaims = {
    aud: audienceOf(scope),
    oid: principalId,
    tid: SANDBOX_TENANT_ID,
    exp: Math.floor(Date.now() / 1000) + 3600,
  };
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${unsigned}.${sign(secret, unsigned)}`;
}

/** The claims of a token the sandbox issued and that has not expired; undefined for anything else. */
export function readToken(secret: string, token: string): EntraClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header = '', payload = '', signature = ''] = parts;
  const expected = Buffer.from(sign(secret, `${header}.${payload}`));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<EntraClaims>;
    if (typeof claims.aud !== 'string' || typeof claims.oid !== 'string' || typeof claims.exp !== 'number') {
      return undefined;
    }
    if (claims.exp * 1000 < Date.now()) return undefined;
    return { aud: claims.aud, oid: claims.oid, tid: String(claims.tid ?? ''), exp: claims.exp };
  } catch {
    return undefined;
  }
}

function sign(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}
