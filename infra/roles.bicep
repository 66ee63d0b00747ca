// The custom role snat-doctor needs on each watched AKS cluster: read the cluster, get the cluster user credentials,
// run the node probe through runCommand and read its result. Nothing else (no Contributor). Optionally, assigned on
// the VNet of a cluster that brings its own (the node pools' vnetSubnetID), it reads that VNet's address spaces and
// peerings (Microsoft.Network/virtualNetworks/read): without it only RFC 1918 and the cluster's pod and service ranges
// are known to be reached without SNAT, and a VNet using a public block is counted as SNAT'd (the report says so).
//
// A role definition is a subscription-level resource, so this file is deployed on its own, once per subscription
// that holds watched clusters:
//
//   az deployment sub create --location <region> --template-file infra/roles.bicep
//
// Then assign it (and Monitoring Reader) to the identity main.bicep made, per cluster: see infra/README.md.

targetScope = 'subscription'

@description('The role\'s display name (unique in the tenant).')
param roleName string = 'snat-doctor cluster investigator'

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

output ROLE_DEFINITION_ID string = investigatorRole.id
output ROLE_NAME string = roleName
