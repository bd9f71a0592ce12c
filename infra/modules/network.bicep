// Optional (vnetEnabled): keep the data plane off the internet. The Function App joins a subnet delegated to
// Microsoft.App/environments (Flex Consumption VNet integration), and the storage account (blob, table) and the Key
// Vault get private endpoints with their private DNS zones; main.bicep then turns their public network access off.
// Learn: "Flex Consumption plan" (virtual network integration), "Azure Private Endpoint private DNS zone values".

param name string
param location string
param tags object = {}
@description('Resource id of the storage account (blob: host storage and deployment package; table: sessions).')
param storageAccountId string
@description('Resource id of the Key Vault; empty when the credential mode uses none.')
param keyVaultId string = ''

// Private DNS zone names per cloud (Learn "Azure Private Endpoint private DNS zone values").
var vaultZone = environment().name == 'AzureUSGovernment'
  ? 'privatelink.vaultcore.usgovcloudapi.net'
  : (environment().name == 'AzureChinaCloud' ? 'privatelink.vaultcore.azure.cn' : 'privatelink.vaultcore.azure.net')
var storageEndpoints = [
  {
    group: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
    target: storageAccountId
  }
  {
    group: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
    target: storageAccountId
  }
]
var vaultEndpoints = empty(keyVaultId)
  ? []
  : [
      {
        group: 'vault'
        zone: vaultZone
        target: keyVaultId
      }
    ]
var endpoints = concat(storageEndpoints, vaultEndpoints)

resource network 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.0.0.0/16'
      ]
    }
    subnets: [
      {
        name: 'private-endpoints'
        properties: {
          addressPrefixes: [
            '10.0.1.0/27'
          ]
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
        name: 'app'
        properties: {
          addressPrefixes: [
            '10.0.2.0/26'
          ]
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for e in endpoints: {
    name: e.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (e, i) in endpoints: {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: network.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [
  for e in endpoints: {
    name: 'pe-${e.group}-${name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: network.properties.subnets[0].id
      }
      privateLinkServiceConnections: [
        {
          name: e.group
          properties: {
            privateLinkServiceId: e.target
            groupIds: [
              e.group
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [
  for (e, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.group
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

// The subnet the Function App joins (virtualNetworkSubnetId).
output appSubnetId string = network.properties.subnets[1].id
