// Who may do what in the sandbox's Azure: the role assignments a scenario gives the app's identity (scenario `azure`),
// checked the way Azure RBAC checks them — an assignment covers its scope and everything below it, and a role
// grants the actions its definition lists (`*/read` is any read). The default assignments are the ones infra/
// makes (infra/roles.bicep): the custom investigator role on the cluster, and Monitoring Reader on the subscription,
// which the metrics batch API requires there ("Because the metrics:getBatch API is a subscription level API, users must
// have the Monitoring Reader permission for the queried subscription", Azure Monitor docs, migrate-to-batch-api,
// "401 authorization errors").
import type { Scenario, ScenarioRoleAssignment } from './scenario.ts';

/** The built-in and custom roles a scenario may assign, with the actions of their definitions. */
export const ROLE_ACTIONS = {
  // Built-in role 43d0d8ad-25c7-4714-9337-8ba259a9fe05: learn.microsoft.com, "Azure built-in roles for Monitor",
  // Monitoring Reader.
  'Monitoring Reader': ['*/read', 'Microsoft.OperationalInsights/workspaces/search/action', 'Microsoft.Support/*'],
  // Built-in role acdd72a7-3385-48ef-bd42-f606fba81ae7.
  Reader: ['*/read'],
  // infra/roles.bicep's custom role (test/infra checks that its definition lists these).
  'snat-doctor cluster investigator': [
    'Microsoft.ContainerService/managedClusters/read',
    'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action',
    'Microsoft.ContainerService/managedClusters/runCommand/action',
    'Microsoft.ContainerService/managedClusters/commandResults/read',
    'Microsoft.Network/virtualNetworks/read',
  ],
} as const;
export type ScenarioRole = keyof typeof ROLE_ACTIONS;
export const SCENARIO_ROLES = Object.keys(ROLE_ACTIONS) as ScenarioRole[];

/** Where a scenario's assignment applies, named by what it is in the cluster's world. */
export const ROLE_SCOPES = ['subscription', 'resourceGroup', 'nodeResourceGroup', 'cluster'] as const;
export type RoleScope = (typeof ROLE_SCOPES)[number];

/** What infra/ assigns the app's identity, and so what a scenario's identity holds unless it says otherwise. */
export const DEFAULT_ROLE_ASSIGNMENTS: ScenarioRoleAssignment[] = [
  { role: 'snat-doctor cluster investigator', scope: 'cluster' },
  { role: 'Monitoring Reader', scope: 'subscription' },
];

/** The resource id a scenario scope names. */
export function scopeId(scenario: Scenario, scope: RoleScope): string {
  const { cluster } = scenario;
  const subscription = `/subscriptions/${cluster.subscriptionId}`;
  switch (scope) {
    case 'subscription':
      return subscription;
    case 'resourceGroup':
      return `${subscription}/resourceGroups/${cluster.resourceGroup}`;
    case 'nodeResourceGroup':
      return `${subscription}/resourceGroups/${cluster.nodeResourceGroup}`;
    case 'cluster':
      return `${subscription}/resourceGroups/${cluster.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${cluster.name}`;
  }
}

/** Whether `principalId` may perform `action` on `resource` (a resource id or a subscription). */
export function allowed(scenario: Scenario, principalId: string, action: string, resource: string): boolean {
  if (principalId.toLowerCase() !== scenario.azure.principalId.toLowerCase()) return false;
  const target = resource.toLowerCase();
  return scenario.azure.roleAssignments.some((assignment) => {
    const scope = scopeId(scenario, assignment.scope).toLowerCase();
    const covers = target === scope || target.startsWith(`${scope}/`);
    return covers && ROLE_ACTIONS[assignment.role].some((granted) => grants(granted, action));
  });
}

// A role definition's action pattern against an action: `*`, `*/read`, `Provider/*`, or the action itself.
function grants(pattern: string, action: string): boolean {
  const p = pattern.toLowerCase();
  const a = action.toLowerCase();
  if (p === '*') return true;
  if (p === '*/read') return a.endsWith('/read');
  if (p.endsWith('/*')) return a.startsWith(p.slice(0, -1));
  return p === a;
}

/**
 * What metrics:getBatch answers a principal that may not query `subscriptionId`, as the Azure Monitor docs describe
 * it (migrate-to-batch-api, "Troubleshooting"): 401 without Monitoring Reader on the subscription itself, 403 when the
 * Microsoft.Insights resource provider is not registered. The bodies' wording is the sandbox's: the docs give the
 * statuses, not the texts.
 */
export function metricsRefusal(
  scenario: Scenario,
  principalId: string,
  subscriptionId: string,
): { status: number; code: string; message: string } | undefined {
  const subscription = `/subscriptions/${subscriptionId}`;
  if (!allowed(scenario, principalId, 'Microsoft.Insights/metrics/read', subscription)) {
    return {
      status: 401,
      code: 'Unauthorized',
      message: `The principal '${principalId}' does not have Monitoring Reader (Microsoft.Insights/metrics/read) on the subscription '${subscription}', which metrics:getBatch requires on the subscription itself.`,
    };
  }
  if (scenario.azure.insightsProvider === 'NotRegistered') {
    return {
      status: 403,
      code: 'MissingSubscriptionRegistration',
      message: `The subscription '${subscriptionId}' is not registered to use namespace 'Microsoft.Insights'.`,
    };
  }
  return undefined;
}
