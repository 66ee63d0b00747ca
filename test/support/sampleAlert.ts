// A SNAT alert as an Azure Monitor action group posts it (common alert schema): the tests' fixture, and a payload to
// try the hook with by hand. Defaults are the built-in sandbox's: cluster rg-payments-prod/aks-prod, its node resource
// group's `kubernetes` load balancer, node 10.224.0.5 out of ports. Like Microsoft's samples, alertTargetIDs are
// lower-cased, the threshold is a string and the metric value a number.
import { COMMON_ALERT_SCHEMA_ID } from '../../lib/alerts/commonAlertSchema.ts';

export interface SampleAlertOptions {
  subscriptionId?: string;
  nodeResourceGroup?: string;
  loadBalancer?: string;
  /** The nodes the alert fired for; [] for a rule not split by BackendIPAddress. */
  backendIps?: string[];
  monitorCondition?: 'Fired' | 'Resolved';
  rule?: string;
}

export interface CommonAlertPayload {
  schemaId: string;
  data: {
    essentials: {
      alertId: string;
      alertRule: string;
      severity: string;
      signalType: string;
      monitorCondition: string;
      monitoringService: string;
      alertTargetIDs: string[];
      configurationItems: string[];
      originAlertId: string;
      firedDateTime: string;
      resolvedDateTime?: string;
      description: string;
      essentialsVersion: string;
      alertContextVersion: string;
    };
    alertContext: {
      properties: null;
      conditionType: string;
      condition: {
        windowSize: string;
        allOf: {
          metricName: string;
          metricNamespace: string;
          operator: string;
          threshold: string;
          timeAggregation: string;
          dimensions: { name: string; value: string }[];
          metricValue: number;
        }[];
        windowStartTime: string;
        windowEndTime: string;
      };
    };
  };
}

export const SAMPLE_ALERT_DEFAULTS: Required<SampleAlertOptions> = {
  subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
  nodeResourceGroup: 'MC_rg-payments-prod_aks-prod_westeurope',
  loadBalancer: 'kubernetes',
  backendIps: ['10.224.0.5'],
  monitorCondition: 'Fired',
  rule: 'aks-prod SNAT ports above 90%',
};

/** One alert per node, as a rule on UsedSnatPorts split by BackendIPAddress and ProtocolType sends it. */
export function sampleSnatAlert(options: SampleAlertOptions = {}): CommonAlertPayload {
  const { subscriptionId, nodeResourceGroup, loadBalancer, backendIps, monitorCondition, rule } = {
    ...SAMPLE_ALERT_DEFAULTS,
    ...options,
  };
  const loadBalancerId =
    `/subscriptions/${subscriptionId}/resourceGroups/${nodeResourceGroup}` +
    `/providers/Microsoft.Network/loadBalancers/${loadBalancer}`;
  return {
    schemaId: COMMON_ALERT_SCHEMA_ID,
    data: {
      essentials: {
        alertId: `/subscriptions/${subscriptionId}/providers/Microsoft.AlertsManagement/alerts/6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f`,
        alertRule: rule,
        severity: 'Sev1',
        signalType: 'Metric',
        monitorCondition,
        monitoringService: 'Platform',
        alertTargetIDs: [loadBalancerId.toLowerCase()],
        configurationItems: [loadBalancer.toLowerCase()],
        originAlertId: `${subscriptionId}_${nodeResourceGroup}_microsoft.insights_metricAlerts_${rule}_-1357924680`,
        firedDateTime: '2026-01-01T00:04:12.4821233Z',
        ...(monitorCondition === 'Resolved' ? { resolvedDateTime: '2026-01-01T00:24:09.1120541Z' } : {}),
        description: 'A node is using more than 90% of its allocated SNAT ports.',
        essentialsVersion: '1.0',
        alertContextVersion: '1.0',
      },
      alertContext: {
        properties: null,
        conditionType: 'SingleResourceMultipleMetricCriteria',
        condition: {
          windowSize: 'PT5M',
          allOf: [
            {
              metricName: 'UsedSnatPorts',
              metricNamespace: 'Microsoft.Network/loadBalancers',
              operator: 'GreaterThan',
              threshold: '921',
              timeAggregation: 'Average',
              dimensions: [
                ...backendIps.map((ip) => ({ name: 'BackendIPAddress', value: ip })),
                { name: 'ProtocolType', value: 'TCP' },
              ],
              metricValue: 1016,
            },
          ],
          windowStartTime: '2026-01-01T00:00:00.000Z',
          windowEndTime: '2026-01-01T00:05:00.000Z',
        },
      },
    },
  };
}
