// The cluster user kubeconfig made usable without kubelogin. For an Entra ID (AAD-managed) cluster AKS hands out
// users that run the kubelogin exec plugin (or, in the legacy format, the `azure` auth-provider) to get a token for the
// AKS server app; we do what the plugin does — ask our credential for that token — and put it in the user as a bearer
// token. The token expires (about an hour), so a kubeconfig is built per use rather than stored.
import { parse, stringify } from 'yaml';
import { SnatDoctorError } from '../../errors.ts';

/** The Entra ID application every AKS-managed AAD cluster trusts (the same id in every cloud). */
export const AKS_SERVER_APP_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';
export const AKS_SERVER_APP_SCOPE = `${AKS_SERVER_APP_ID}/.default`;

interface KubeconfigUser {
  name?: string;
  user?: {
    exec?: { command?: string; args?: string[] };
    'auth-provider'?: { name?: string; config?: Record<string, string> };
    [key: string]: unknown;
  };
}

/** The AKS server app a user authenticates to, when it authenticates through Entra ID. */
function serverAppOf(user: KubeconfigUser['user']): string | undefined {
  const exec = user?.exec;
  if (exec) {
    const args = exec.args ?? [];
    const at = args.indexOf('--server-id');
    const serverId = at >= 0 ? args[at + 1] : undefined;
    if (serverId) return serverId;
    if (/kubelogin/.test(exec.command ?? '')) return AKS_SERVER_APP_ID;
  }
  const provider = user?.['auth-provider'];
  if (provider?.name === 'azure') return provider.config?.['apiserver-id'] ?? AKS_SERVER_APP_ID;
  return undefined;
}

/** The kubeconfig with each Entra ID user replaced by a bearer token from `token(scope)`. */
export async function withEntraTokens(kubeconfig: string, token: (scope: string) => Promise<string>): Promise<string> {
  let config: { users?: KubeconfigUser[] };
  try {
    config = parse(kubeconfig) as { users?: KubeconfigUser[] };
  } catch (error) {
    throw new SnatDoctorError(
      'INTERNAL',
      `The cluster user kubeconfig from ARM is not valid YAML: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let changed = false;
  for (const entry of config?.users ?? []) {
    const serverApp = serverAppOf(entry.user);
    if (!serverApp) continue;
    entry.user = { token: await token(`${serverApp}/.default`) };
    changed = true;
  }
  return changed ? stringify(config) : kubeconfig;
}
