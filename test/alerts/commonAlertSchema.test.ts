// The common alert schema reader on what Azure Monitor sends: the accepted variants. Refusals, each with its reason,
// are tested through the webhook itself (test/functions/alertHook.test.ts), where they must also start nothing.
import { describe, expect, test } from '@jest/globals';
import { parseLoadBalancerId, parseMetricAlert } from '../../lib/alerts/commonAlertSchema.ts';
import { type CommonAlertPayload, SAMPLE_ALERT_DEFAULTS, sampleSnatAlert } from '../support/sampleAlert.ts';

const SUBSCRIPTION = SAMPLE_ALERT_DEFAULTS.subscriptionId;
const LB_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/MC_rg-payments-prod_aks-prod_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes`;

function parsed(payload: unknown) {
  const result = parseMetricAlert(payload);
  if (!result.ok) throw new Error(`refused: ${result.message}`);
  return result.alert;
}

function edited(edit: (payload: CommonAlertPayload) => void, options = {}): CommonAlertPayload {
  const payload = sampleSnatAlert(options);
  edit(payload);
  return payload;
}

describe('parseMetricAlert', () => {
  test('reads a fired UsedSnatPorts alert split by BackendIPAddress, as Azure sends it (ids lower-cased)', () => {
    expect(parsed(sampleSnatAlert())).toEqual({
      fired: true,
      loadBalancerIds: [LB_ID.toLowerCase()],
      backendIps: ['10.224.0.5'],
      metric: 'UsedSnatPorts',
      rule: 'aks-prod SNAT ports above 90%',
    });
  });

  test('a resolved alert is read too, as not fired', () => {
    expect(parsed(sampleSnatAlert({ monitorCondition: 'Resolved' })).fired).toBe(false);
  });

  test('takes load balancer ids in any case: ARM spells them in mixed case, alerts in lower case', () => {
    const alert = parsed(edited((p) => (p.data.essentials.alertTargetIDs = [LB_ID])));
    expect(alert.loadBalancerIds).toEqual([LB_ID]);
  });

  test.each<[string, (p: CommonAlertPayload) => void]>([
    ['no dimensions at all', (p) => (p.data.alertContext.condition.allOf[0]!.dimensions = [])],
    [
      'only ProtocolType',
      (p) => (p.data.alertContext.condition.allOf[0]!.dimensions = [{ name: 'ProtocolType', value: 'TCP' }]),
    ],
  ])('a rule not split by BackendIPAddress (%s) names no node', (_name, edit) => {
    expect(parsed(edited(edit)).backendIps).toEqual([]);
  });

  test('dimensions absent from the criterion are the same as none', () => {
    const payload = sampleSnatAlert() as unknown as { data: { alertContext: { condition: { allOf: object[] } } } };
    delete (payload.data.alertContext.condition.allOf[0] as { dimensions?: unknown }).dimensions;
    expect(parsed(payload).backendIps).toEqual([]);
  });

  test('dimension and metric names are matched whatever their case; IPs come out canonical and once', () => {
    const alert = parsed(
      edited((p) => {
        const [criterion] = p.data.alertContext.condition.allOf;
        p.data.alertContext.condition.allOf = [
          {
            ...criterion!,
            metricName: 'usedsnatports',
            dimensions: [{ name: 'backendipaddress', value: '10.224.0.5' }],
          },
          {
            ...criterion!,
            metricName: 'SnatConnectionCount',
            timeAggregation: 'Total',
            dimensions: [
              { name: 'BackendIPAddress', value: '::ffff:10.224.0.5' },
              { name: 'BackendIPAddress', value: 'FD00:0:0:0:0:0:0:6' },
              { name: 'ConnectionState', value: 'Failed' },
            ],
          },
        ];
      }),
    );
    expect(alert.backendIps).toEqual(['10.224.0.5', 'fd00::6']);
    expect(alert.metric).toBe('UsedSnatPorts, SnatConnectionCount');
  });

  test.each<[string, (p: CommonAlertPayload) => void]>([
    ['a dynamic threshold', (p) => (p.data.alertContext.conditionType = 'DynamicThresholdCriteria')],
    [
      'a rule over several load balancers',
      (p) => (p.data.alertContext.conditionType = 'MultipleResourceMultipleMetricCriteria'),
    ],
    [
      'no metric namespace',
      (p) => ((p.data.alertContext.condition.allOf[0] as { metricNamespace: unknown }).metricNamespace = null),
    ],
    [
      'the namespace lower-cased',
      (p) => (p.data.alertContext.condition.allOf[0]!.metricNamespace = 'microsoft.network/loadbalancers'),
    ],
  ])('accepts %s', (_name, edit) => {
    expect(parsed(edited(edit)).backendIps).toEqual(['10.224.0.5']);
  });
});

describe('parseLoadBalancerId', () => {
  test('splits a load balancer id, in the case given', () => {
    expect(parseLoadBalancerId(LB_ID.toLowerCase())).toEqual({
      subscriptionId: SUBSCRIPTION,
      resourceGroup: 'mc_rg-payments-prod_aks-prod_westeurope',
      name: 'kubernetes',
    });
  });

  test.each([
    [
      'a virtual machine',
      `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
    ],
    ['a load balancer child resource', `${LB_ID}/frontendIPConfigurations/fe1`],
    ['a subscription that is not a GUID', LB_ID.replace(SUBSCRIPTION, 'prod')],
  ])('refuses %s', (_name, id) => {
    expect(parseLoadBalancerId(id)).toBeUndefined();
  });
});
