// Azure Monitor's common alert schema, as an action group's webhook posts it, narrowed to the one kind of alert this
// app acts on: a metric alert on an AKS cluster's load balancer, ideally split by BackendIPAddress (one alert per
// node). Strict on purpose: the values end up in an instance id and a node lookup, and a payload that is not what we
// expect is better refused with its reason — the action group's history shows it — than guessed at.
//
// Shape: learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema and alerts-payload-samples. Azure sends
// alertTargetIDs lower-cased ("/subscriptions/…/resourcegroups/…/providers/microsoft.compute/…"), so resource ids
// are matched case-insensitively, and so are metric and dimension names.
import ipaddr from 'ipaddr.js';

export const COMMON_ALERT_SCHEMA_ID = 'azureMonitorCommonAlertSchema';

/** What the hook needs from a metric alert. */
export interface MetricAlert {
  /** `monitorCondition` "Fired"; false for "Resolved". */
  fired: boolean;
  /** `alertTargetIDs`, as sent (each one a load balancer's resource id). */
  loadBalancerIds: string[];
  /** The BackendIPAddress dimension values of the criteria (the nodes), canonical and without repeats. */
  backendIps: string[];
  /** The metric(s) the rule watches, e.g. "UsedSnatPorts". */
  metric: string;
  /** The alert rule's name: who asked for the investigation. */
  rule: string;
}

export type ParsedAlert = { ok: true; alert: MetricAlert } | { ok: false; message: string };

export interface LoadBalancerRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const LOAD_BALANCER_ID_SHAPE =
  '/subscriptions/{guid}/resourceGroups/{group}/providers/Microsoft.Network/loadBalancers/{name}';
const LOAD_BALANCER_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/loadBalancers\/([^/]+)$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The same rule as lib/validation.ts: letters, digits, "_", "-", "." (not last); parentheses refused.
const RESOURCE_GROUP = /^[A-Za-z0-9_.-]{0,89}[A-Za-z0-9_-]$/;
// Azure load balancer names: 1-80 letters, digits, "_", "." and "-", starting with a letter or digit, ending with a
// letter, digit or "_".
const LOAD_BALANCER_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/**
 * Condition types of metric alert rules. The first two are Microsoft's samples (static and dynamic thresholds); a rule
 * scoped to several load balancers (a resource group, a subscription) has MultipleResourceMultipleMetricCriteria
 * criteria, accepted so such a rule is not refused. Availability tests (WebtestLocationAvailabilityCriteria) are not
 * about load balancers.
 */
const CONDITION_TYPES = [
  'SingleResourceMultipleMetricCriteria',
  'MultipleResourceMultipleMetricCriteria',
  'DynamicThresholdCriteria',
];

/**
 * The load balancer metrics that speak of SNAT (REST names; azure-apis.md §3.2). An alert on health probes or bytes
 * says nothing about SNAT ports, and investigating a node for it would only cost a privileged probe run.
 */
const SNAT_METRICS = ['UsedSnatPorts', 'AllocatedSnatPorts', 'SnatConnectionCount'];
const LOAD_BALANCER_NAMESPACE = 'Microsoft.Network/loadBalancers';
const BACKEND_IP_DIMENSION = 'BackendIPAddress';

const RULE_MAX = 260;

/** Reads an action group webhook's body; every refusal names the field and says what was expected. */
export function parseMetricAlert(body: unknown): ParsedAlert {
  try {
    return { ok: true, alert: readAlert(body) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, message: error.message };
    throw error;
  }
}

/** A load balancer's resource id, split; undefined for anything else. */
export function parseLoadBalancerId(id: string): LoadBalancerRef | undefined {
  return loadBalancerIdProblem(id) === undefined ? splitLoadBalancerId(id) : undefined;
}

class Refusal extends Error {}

function readAlert(body: unknown): MetricAlert {
  if (!isObject(body)) {
    throw new Refusal(
      `Send the common alert schema: a JSON object with "schemaId": "${COMMON_ALERT_SCHEMA_ID}" (turn on "Enable the common alert schema" for this webhook in the action group).`,
    );
  }
  if (body.schemaId !== COMMON_ALERT_SCHEMA_ID) {
    throw new Refusal(
      `schemaId is ${show(body.schemaId)}: expected "${COMMON_ALERT_SCHEMA_ID}" (turn on "Enable the common alert schema" for this webhook in the action group).`,
    );
  }
  const data = object(body.data, 'data');
  const essentials = object(data.essentials, 'data.essentials');

  if (essentials.signalType !== 'Metric') {
    throw new Refusal(
      `data.essentials.signalType is ${show(essentials.signalType)}: this hook takes metric alerts on a cluster's load balancer ("Metric").`,
    );
  }
  const condition = essentials.monitorCondition;
  if (condition !== 'Fired' && condition !== 'Resolved') {
    throw new Refusal(`data.essentials.monitorCondition is ${show(condition)}: expected "Fired" or "Resolved".`);
  }
  const rule = essentials.alertRule;
  // The rule's name is recorded as who asked and shown in reports and Slack: bounded, and no control characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  if (typeof rule !== 'string' || rule.trim() === '' || rule.length > RULE_MAX || /[\u0000-\u001f\u007f]/.test(rule)) {
    throw new Refusal(
      `data.essentials.alertRule is ${show(rule)}: expected the alert rule's name (1-${RULE_MAX} characters, no control characters).`,
    );
  }

  const targets = essentials.alertTargetIDs;
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new Refusal(
      `data.essentials.alertTargetIDs is ${show(targets)}: expected a list of the alerted load balancers' resource ids (${LOAD_BALANCER_ID_SHAPE}).`,
    );
  }
  const loadBalancerIds = targets.map((id: unknown, i) => {
    const problem = typeof id === 'string' ? loadBalancerIdProblem(id) : 'not a string';
    if (problem !== undefined) {
      throw new Refusal(
        `data.essentials.alertTargetIDs[${i}] is not a load balancer resource id: ${show(id)} (${problem}; expected ${LOAD_BALANCER_ID_SHAPE}).`,
      );
    }
    return id as string;
  });

  const context = object(data.alertContext, 'data.alertContext');
  if (typeof context.conditionType !== 'string' || !CONDITION_TYPES.includes(context.conditionType)) {
    throw new Refusal(
      `data.alertContext.conditionType is ${show(context.conditionType)}: expected a metric alert's (${CONDITION_TYPES.join(', ')}).`,
    );
  }
  const allOf = object(context.condition, 'data.alertContext.condition').allOf;
  if (!Array.isArray(allOf) || allOf.length === 0) {
    throw new Refusal(
      `data.alertContext.condition.allOf is ${show(allOf)}: expected the rule's criteria (at least one).`,
    );
  }
  const metrics: string[] = [];
  const backendIps: string[] = [];
  allOf.forEach((entry: unknown, i) => {
    const where = `data.alertContext.condition.allOf[${i}]`;
    const criterion = object(entry, where);
    const metric = SNAT_METRICS.find((name) => sameText(name, criterion.metricName));
    if (metric === undefined) {
      throw new Refusal(
        `${where}.metricName is ${show(criterion.metricName)}: expected a load balancer SNAT metric (${SNAT_METRICS.join(', ')}).`,
      );
    }
    // Absent or null in some payloads; when given, it must be the load balancer's.
    const namespace = criterion.metricNamespace;
    if (namespace !== undefined && namespace !== null && !sameText(LOAD_BALANCER_NAMESPACE, namespace)) {
      throw new Refusal(`${where}.metricNamespace is ${show(namespace)}: expected "${LOAD_BALANCER_NAMESPACE}".`);
    }
    if (!metrics.includes(metric)) metrics.push(metric);
    for (const ip of backendIpsOf(criterion.dimensions, `${where}.dimensions`)) {
      if (!backendIps.includes(ip)) backendIps.push(ip);
    }
  });

  return { fired: condition === 'Fired', loadBalancerIds, backendIps, metric: metrics.join(', '), rule };
}

/** The BackendIPAddress values among a criterion's dimensions (the other dimensions are read by nobody). */
function backendIpsOf(dimensions: unknown, where: string): string[] {
  // A rule not split by any dimension sends an empty list (or, in some payloads, none at all).
  if (dimensions === undefined || dimensions === null) return [];
  if (!Array.isArray(dimensions)) {
    throw new Refusal(`${where} is ${show(dimensions)}: expected a list of {"name", "value"}.`);
  }
  const ips: string[] = [];
  dimensions.forEach((entry: unknown, i) => {
    const dimension = object(entry, `${where}[${i}]`);
    if (typeof dimension.name !== 'string') {
      throw new Refusal(`${where}[${i}].name is ${show(dimension.name)}: expected the dimension's name.`);
    }
    if (!sameText(BACKEND_IP_DIMENSION, dimension.name)) return;
    const ip = typeof dimension.value === 'string' ? canonicalIp(dimension.value) : undefined;
    if (ip === undefined) {
      throw new Refusal(
        `${where}[${i}].value is ${show(dimension.value)}: a ${BACKEND_IP_DIMENSION} is a node's private IP address, like "10.224.0.5".`,
      );
    }
    ips.push(ip);
  });
  return ips;
}

/**
 * Only the plain forms: dotted-quad IPv4 (ipaddr's `isValid` also takes "0xa.1", "167772161" and the like, which no
 * metric ever reports) or IPv6. An IPv4-mapped IPv6 address is the IPv4 node it maps.
 */
function canonicalIp(value: string): string | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return ipaddr.IPv4.parse(value).toString();
  if (!ipaddr.IPv6.isValid(value)) return undefined;
  const v6 = ipaddr.IPv6.parse(value);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toString();
}

function loadBalancerIdProblem(id: string): string | undefined {
  const parts = splitLoadBalancerId(id);
  if (!parts) return 'not the id of a Microsoft.Network/loadBalancers resource';
  if (!GUID.test(parts.subscriptionId)) return `the subscription ${show(parts.subscriptionId)} is not a GUID`;
  if (!RESOURCE_GROUP.test(parts.resourceGroup)) return `the resource group ${show(parts.resourceGroup)} is not valid`;
  if (!LOAD_BALANCER_NAME.test(parts.name)) return `the load balancer name ${show(parts.name)} is not valid`;
  return undefined;
}

function splitLoadBalancerId(id: string): LoadBalancerRef | undefined {
  const match = LOAD_BALANCER_ID.exec(id);
  if (!match) return undefined;
  const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
  return { subscriptionId, resourceGroup, name };
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new Refusal(`${where} is ${show(value)}: expected an object.`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameText(expected: string, value: unknown): boolean {
  return typeof value === 'string' && value.toLowerCase() === expected.toLowerCase();
}

/** A value as the message shows it: JSON, cut short so a huge payload cannot make a huge message. */
function show(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}… (${text.length} characters)` : text;
}
