// The custom role snat-doctor needs on each watched AKS cluster: read the cluster, get the cluster user credentials,
// run the node probe through runCommand and read its result. Nothing else (no Contributor). Optionally, assigned on
// the VNet of a cluster that brings its own (the node pools' vnetSubnetID), it reads that VNet's address spaces and
// peerings (Microsoft.Network/virtualNetworks/read): without it only RFC 1918 and the cluster's pod and service ranges
// are known to be reached without SNAT, and a VNet using a public block is counted as SNAT'd (the report says so).
//
// It also gives the identity main.bicep made *Monitoring Reader on this subscription*: the SNAT metrics are read with
// Azure Monitor's metrics:getBatch, a subscription-level API that needs Monitoring Reader on the subscription itself;
// on every load balancer, or on the node resource group, "the request fails" (Azure Monitor docs, "How to migrate
// from the metrics API to the getBatch API", "401 authorization errors").
//
// A role definition is a subscription-level resource, so this file is deployed on its own, once per subscription
// that holds watched clusters, with main.bicep's IDENTITY_PRINCIPAL_ID output:
//
//   az deployment sub create --location <region> --template-file infra/roles.bicep \
//     --parameters principalId=<IDENTITY_PRINCIPAL_ID>
//
// Then assign the custom role to that identity on each watched cluster (and, optionally, its VNet): infra/README.md.

targetScope = 'subscription'

@description('The role\'s display name (unique in the tenant).')
param roleName string = 'snat-doctor cluster investigator'

@description('Object (principal) id of the identity main.bicep made (its IDENTITY_PRINCIPAL_ID output): given Monitoring Reader on this subscription, which metrics:getBatch requires. Empty: no role assignment (only the custom role is created).')
param principalId string = ''

// Built-in role definition ids (Azure built-in roles, Monitor: Monitoring Reader).
var monitoringReaderRoleId = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'

resource investigatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'snat-doctor: read an AKS cluster, get its user credentials, run the node probe with runCommand and read the command results; read the cluster\'s VNet (address spaces, peerings).'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.ContainerService/managedClusters/read'
          'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action'
          'Microsoft.ContainerService/managedClusters/runCommand/action'
          'Microsoft.ContainerService/managedClusters/commandResults/read'
          'Microsoft.Network/virtualNetworks/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// The metrics batch API (metrics:getBatch) is subscription-level: Monitoring Reader here, on the subscription, not on
// the node resource group. This template is deployed at the subscription, so that is the assignment's scope.
resource monitoringReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(subscription().id, principalId, monitoringReaderRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringReaderRoleId)
    description: 'snat-doctor: read the SNAT metrics of the watched clusters\' load balancers with metrics:getBatch (a subscription-level API).'
  }
}

output ROLE_DEFINITION_ID string = investigatorRole.id
output ROLE_NAME string = roleName
