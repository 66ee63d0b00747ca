// snat-doctor's Azure resources, deployed into one resource group (`azd up`, or `az deployment group create`):
// a Flex Consumption function app on Node 22 running as a user-assigned managed identity, its storage,
// Application Insights, the Durable Task Scheduler and task hub (host.json), a Key Vault holding the Slack secrets
// (read through Key Vault references), and an optional metric alert whose action group calls alertHook.
//
// The cluster-side permissions live outside this resource group: infra/roles.bicep, deployed once per subscription
// that holds watched clusters with this deployment's IDENTITY_PRINCIPAL_ID output as its principalId, creates the
// custom role with the AKS actions and gives the identity Monitoring Reader on that *subscription* (metrics:getBatch is
// a subscription-level API: Monitoring Reader on the node resource group or on the load balancer is not enough); the
// custom role is then assigned per cluster with the commands in infra/README.md.
//
// test/infra/bicep.test.ts compiles this file and infra/roles.bicep with the real Bicep compiler (tools/bicep.mjs
// fetches it) and checks the ARM JSON: zero errors, zero linter warnings, the role assignments, the app settings and
// the outputs below.
//
// Every app setting the code reads is in `appSettings` below and in local.settings.sample.json;
// test/infra/settings.test.ts checks that the three agree.

targetScope = 'resourceGroup'

@description('Short name used in every resource name (azd passes the environment name).')
@minLength(2)
@maxLength(20)
param namePrefix string

@description('Region of every resource. Flex Consumption and the Durable Task Scheduler must be available there.')
param location string = resourceGroup().location

@description('SNAT_DOCTOR_WATCH_CLUSTERS: JSON array of the clusters the timer and alertHook watch, [{"subscriptionId", "resourceGroup", "name"}, …].')
param watchedClustersJson string

@description('SNAT_DOCTOR_SLACK_ACCESS: JSON naming the clusters and who may diagnose them from Slack (README, Slack).')
param slackAccessJson string

@description('The Slack app\'s signing secret; stored in Key Vault, never in an app setting.')
@secure()
@minLength(1)
param slackSigningSecret string

@description('The Slack bot token (xoxb-…); stored in Key Vault, never in an app setting.')
@secure()
@minLength(1)
param slackBotToken string

@description('SLACK_BOT_ID: optional, together with slackBotUserId (saves an auth.test call per request).')
param slackBotId string = ''

@description('SLACK_BOT_USER_ID: optional, together with slackBotId.')
param slackBotUserId string = ''

@description('SNAT_DOCTOR_WATCH_SCHEDULE: the watch timer\'s NCRONTAB schedule.')
param watchSchedule string = '0 */5 * * * *'

@description('SNAT_DOCTOR_WARN_RATIO')
param warnRatio string = '0.75'

@description('SNAT_DOCTOR_INVESTIGATE_RATIO')
param investigateRatio string = '0.9'

@description('SNAT_DOCTOR_COOLDOWN_MINUTES')
param cooldownMinutes string = '30'

@description('SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES: a node predicted to exhaust its SNAT ports within this many minutes is investigated now; 0 never early.')
param exhaustionHorizonMinutes string = '30'

@description('SNAT_DOCTOR_PRIVATE_RANGES: comma-separated CIDRs every investigation treats as reached without SNAT (on-premises, VNets the identity cannot read), e.g. 30.10.0.0/16,172.31.0.0/16; empty for none.')
param privateRanges string = ''

@description('TASKHUB_NAME: the Durable Task Scheduler task hub.')
param taskHubName string = 'snatdoctor'

@description('The Durable Task Scheduler SKU.')
@allowed([
  'Consumption'
  'Dedicated'
])
param schedulerSku string = 'Consumption'

@description('Create the SNAT metric alert and its action group (needs alertLoadBalancerId and alertHookKey).')
param enableSnatAlert bool = false

@description('Resource id of the cluster\'s outbound load balancer (in the node resource group), when enableSnatAlert.')
param alertLoadBalancerId string = ''

@description('The alertHook function\'s key (az functionapp function keys list … --function-name alertHook), when enableSnatAlert. Known only after the first deployment: deploy, read the key, deploy again with the alert on.')
@secure()
param alertHookKey string = ''

@description('Object id of a person (user) who may read the Durable Task Scheduler dashboard: every investigation\'s history. azd fills in whoever runs it (AZURE_PRINCIPAL_ID); empty: no one.')
param dashboardPrincipalId string = ''

@description('Tags for every resource (the function app also gets azd-service-name: api).')
param tags object = {}

var suffix = uniqueString(subscription().id, resourceGroup().id, namePrefix)
var appName = 'func-${namePrefix}-${suffix}'
var storageName = take('st${toLower(replace(namePrefix, '-', ''))}${suffix}', 24)
var keyVaultName = 'kv-${suffix}' // 16 characters, always valid
var deploymentContainerName = 'app-package-${take(suffix, 13)}'
var evidenceContainerName = 'snat-doctor-evidence'

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

// ---- identity ------------------------------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-${suffix}'
  location: location
  tags: tags
}

// ---- storage: the host's AzureWebJobsStorage, the Flex deployment package, the evidence blobs -------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity only
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource evidenceContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: evidenceContainerName
}

// Blob Data Owner on the account: what the Functions host needs for AzureWebJobsStorage through an identity; it
// includes Blob Data Contributor on the evidence container and on the deployment container.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// ---- monitoring ----------------------------------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: 'log-${namePrefix}-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${namePrefix}-${suffix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

// ---- Durable Task Scheduler (host.json: storageProvider azureManaged) -------------------------------------------

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: 'dts-${namePrefix}-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: schedulerSku == 'Dedicated'
      ? {
          name: 'Dedicated'
          capacity: 1
        }
      : {
          name: 'Consumption'
        }
    ipAllowlist: [
      '0.0.0.0/0' // an empty list denies everything; access is by Entra ID (the role below)
    ]
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
  properties: {}
}

resource durableTaskContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, identity.id, roles.durableTaskDataContributor)
  scope: taskHub
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.durableTaskDataContributor
    )
  }
}

// The scheduler's dashboard (the task hub's dashboard URL in the portal) reads the task hub as the person viewing it.
resource dashboardViewer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dashboardPrincipalId)) {
  name: guid(taskHub.id, dashboardPrincipalId, roles.durableTaskDataContributor)
  scope: taskHub
  properties: {
    principalId: dashboardPrincipalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.durableTaskDataContributor
    )
  }
}

// ---- Key Vault: the Slack secrets ----------------------------------------------------------------------------------

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource signingSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'slack-signing-secret'
  properties: {
    value: slackSigningSecret
  }
}

resource botToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'slack-bot-token'
  properties: {
    value: slackBotToken
  }
}

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// ---- the function app ----------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${namePrefix}-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // Flex Consumption sets the worker runtime from functionAppConfig.runtime: FUNCTIONS_WORKER_RUNTIME (a key of
      // local.settings.sample.json) is not an app setting here, and AzureWebJobsStorage is the identity-based
      // AzureWebJobsStorage__* trio.
      appSettings: [
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          // DefaultAzureCredential (lib/adapters/azure.ts, the evidence store) picks the user-assigned identity.
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'TASKHUB_NAME'
          value: taskHub.name
        }
        {
          name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
          value: 'Endpoint=${scheduler.properties.endpoint};Authentication=ManagedIdentity;ClientID=${identity.properties.clientId}'
        }
        {
          name: 'SLACK_SIGNING_SECRET'
          value: '@Microsoft.KeyVault(SecretUri=${signingSecret.properties.secretUri})'
        }
        {
          name: 'SLACK_BOT_TOKEN'
          value: '@Microsoft.KeyVault(SecretUri=${botToken.properties.secretUri})'
        }
        {
          name: 'SLACK_BOT_ID'
          value: slackBotId
        }
        {
          name: 'SLACK_BOT_USER_ID'
          value: slackBotUserId
        }
        {
          name: 'SNAT_DOCTOR_SLACK_ACCESS'
          value: slackAccessJson
        }
        {
          name: 'SNAT_DOCTOR_WATCH_SCHEDULE'
          value: watchSchedule
        }
        {
          name: 'SNAT_DOCTOR_WATCH_CLUSTERS'
          value: watchedClustersJson
        }
        {
          name: 'SNAT_DOCTOR_WARN_RATIO'
          value: warnRatio
        }
        {
          name: 'SNAT_DOCTOR_INVESTIGATE_RATIO'
          value: investigateRatio
        }
        {
          name: 'SNAT_DOCTOR_COOLDOWN_MINUTES'
          value: cooldownMinutes
        }
        {
          name: 'SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES'
          value: exhaustionHorizonMinutes
        }
        {
          name: 'SNAT_DOCTOR_EVIDENCE_CONTAINER_URL'
          value: '${storage.properties.primaryEndpoints.blob}${evidenceContainerName}'
        }
        {
          name: 'SNAT_DOCTOR_PRIVATE_RANGES'
          value: privateRanges
        }
      ]
    }
  }
  dependsOn: [
    // The host starts with these; without them its first minutes are 403s.
    storageBlobOwner
    durableTaskContributor
    keyVaultSecretsUser
    deploymentContainer
    evidenceContainer
  ]
}

// ---- optional: failed SNAT connections on the load balancer → alertHook ------------------------------------------

resource alertActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (enableSnatAlert) {
  name: 'ag-${namePrefix}-snat'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'snatdoctor'
    enabled: true
    webhookReceivers: [
      {
        name: 'snat-doctor-alertHook'
        serviceUri: 'https://${functionApp.properties.defaultHostName}/api/alerts/snat?code=${alertHookKey}'
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
}

resource snatAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = if (enableSnatAlert) {
  name: 'alert-${namePrefix}-snat-failed'
  location: 'global'
  tags: tags
  properties: {
    description: 'Failed SNAT connections on the cluster\'s outbound load balancer, one alert per node (BackendIPAddress): snat-doctor investigates the node.'
    severity: 2
    enabled: true
    scopes: [
      alertLoadBalancerId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    autoMitigate: true
    targetResourceType: 'Microsoft.Network/loadBalancers'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedSnatConnections'
          metricNamespace: 'Microsoft.Network/loadBalancers'
          metricName: 'SnatConnectionCount'
          // Azure Load Balancer docs, "Outbound availability alerting": SNAT connection count filtered to
          // Connection State = Failed, Total aggregation, split by backend IP address, threshold greater than zero.
          dimensions: [
            {
              name: 'ConnectionState'
              operator: 'Include'
              values: [
                'Failed'
              ]
            }
            {
              name: 'BackendIPAddress'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: alertActionGroup.id
      }
    ]
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output FUNCTION_APP_URL string = 'https://${functionApp.properties.defaultHostName}'
output SLACK_EVENTS_URL string = 'https://${functionApp.properties.defaultHostName}/api/slack/events'
output IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output IDENTITY_CLIENT_ID string = identity.properties.clientId
output KEY_VAULT_NAME string = keyVault.name
output STORAGE_ACCOUNT_NAME string = storage.name
output DURABLE_TASK_SCHEDULER_ENDPOINT string = scheduler.properties.endpoint
