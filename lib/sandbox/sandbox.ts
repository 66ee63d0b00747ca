// The sandbox on real protocols: a scenario served on 127.0.0.1 as ARM + metrics (HTTPS) and a Kubernetes API
// (HTTPS, exec over WebSocket), with a certificate made at start and trusted only by the clients given it. The
// workflow's ports are the real adapters — the Azure SDKs and @kubernetes/client-node — pointed at these endpoints.
import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { createAzureAdapters } from '../adapters/azure.ts';
import { realPorts } from '../adapters/ports.ts';
import type { Ports } from '../ports.ts';
import { type ArmServer, startArmServer } from './armServer.ts';
import { issueToken } from './entra.ts';
import { type KubeApiServer, startKubeApiServer } from './kubeApiServer.ts';
import { runCommandExecutor } from './runCommandExecutor.ts';
import { SandboxCluster } from './sandboxCluster.ts';
import type { Scenario } from './scenario.ts';
import { createSandboxCertificate, type SandboxCertificate } from './tls.ts';

export interface SandboxOptions {
  /** Apply the scenario's latencies (the CLI does; tests do not). */
  latency?: boolean;
  sleep?: (ms: number) => Promise<void>;
  /** Client-side timeout of each Azure and Kubernetes call. */
  timeoutMs?: number;
  /** How often runCommand's result and the probe pod are polled. */
  pollIntervalMs?: number;
  armPort?: number;
  kubePort?: number;
}

export interface SandboxConnection {
  cluster: { subscriptionId: string; resourceGroup: string; name: string };
  armUrl: string;
  /** The metrics endpoint of a region is `${metricsBase}/regions/<location>`. */
  metricsBase: string;
  ca: string;
  /** The Kubernetes API's bearer token, and the secret the sandbox's Entra ID signs ARM and metrics tokens with. */
  token: string;
  /** The object id the sandbox's credential signs in as (the scenario's `azure.principalId`); default the sandbox's. */
  principalId?: string;
}

export interface RunningSandbox {
  scenario: Scenario;
  cluster: SandboxCluster;
  arm: ArmServer;
  kube: KubeApiServer;
  cert: SandboxCertificate;
  /** A kubeconfig for the sandbox's Kubernetes API (for kubectl). */
  kubeconfig(): string;
  /** The real adapters, pointed at the sandbox (`signal`: see NodeProbeOptions.signal). */
  ports(options?: { signal?: AbortSignal }): Ports;
  /** What another process needs to reach this sandbox (`diagnose --connect`): endpoints, CA, token. */
  connection(): SandboxConnection;
  close(): Promise<void>;
}

export async function startSandbox(scenario: Scenario, options: SandboxOptions = {}): Promise<RunningSandbox> {
  const sleep = options.latency
    ? // Unref'd: a probe pod still "running" must not keep a stopped sandbox's process alive.
      (options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())))
    : async () => {};
  const cert = await createSandboxCertificate();
  const token = randomBytes(24).toString('base64url');
  const cluster = new SandboxCluster(scenario, { latency: options.latency, sleep });
  const kube = await startKubeApiServer(cluster, { cert, token, port: options.kubePort });
  const context = scenario.cluster.name;
  const arm = await startArmServer(scenario, {
    cert,
    entraSecret: token,
    // Sandbox time: each 2 s poll of the probe pod takes 100 ms, so its 100 s wait budget lasts 5 s.
    runCommand: runCommandExecutor(cluster, { pollMs: options.latency ? 100 : 0, sleep }),
    kubeconfig: () => kube.kubeconfig(context),
    port: options.armPort,
    sleep,
  });
  const ports = (given: { signal?: AbortSignal } = {}) =>
    sandboxPorts(
      {
        cluster: scenario.cluster,
        armUrl: arm.url,
        metricsBase: arm.url,
        ca: cert.cert,
        token,
        principalId: scenario.azure.principalId,
      },
      {
        timeoutMs: options.timeoutMs,
        pollIntervalMs: options.pollIntervalMs ?? (options.latency ? 200 : 1),
        ...(given.signal ? { signal: given.signal } : {}),
      },
    );
  return {
    scenario,
    cluster,
    arm,
    kube,
    cert,
    kubeconfig: () => kube.kubeconfig(context),
    ports,
    connection: () => ({
      cluster: {
        subscriptionId: scenario.cluster.subscriptionId,
        resourceGroup: scenario.cluster.resourceGroup,
        name: scenario.cluster.name,
      },
      armUrl: arm.url,
      metricsBase: arm.url,
      ca: cert.cert,
      token,
      principalId: scenario.azure.principalId,
    }),
    async close() {
      await Promise.all([arm.close(), kube.close()]);
    },
  };
}

/** The real adapters pointed at a sandbox, in this process or another (`snat-doctor sandbox` + `diagnose --connect`). */
export function sandboxPorts(
  connection: SandboxConnection,
  options: { timeoutMs?: number; pollIntervalMs?: number; signal?: AbortSignal } = {},
): Ports {
  // The sandbox's own stand-in for Entra ID: a token for the scope asked for, which its endpoints check (entra.ts).
  const credential: TokenCredential = {
    getToken: async (scopes) => ({
      token: issueToken(connection.token, [scopes].flat()[0] ?? '', connection.principalId),
      expiresOnTimestamp: Date.now() + 3600_000,
    }),
  };
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  return realPorts({
    azure: createAzureAdapters({
      credential,
      subscriptionId: connection.cluster.subscriptionId,
      armEndpoint: connection.armUrl,
      metricsEndpoint: (location) => `${connection.metricsBase}/regions/${location.toLowerCase()}`,
      tlsCa: connection.ca,
      timeoutMs: options.timeoutMs,
      pollIntervalMs,
    }),
    kubernetes: { timeoutMs: options.timeoutMs, pollIntervalMs },
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
