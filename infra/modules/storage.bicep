// Storage for the sign-in service: the AuthState / AuthSessions tables, the Functions host storage
// (AzureWebJobsStorage, identity-based) and the Flex Consumption deployment container.
// Shared-key (account key / SAS) access is disabled: every caller authenticates with Entra ID.

@description('Storage account name (3-24 lowercase letters and digits).')
param name string
param location string
param tags object = {}
@description('Blob container that Flex Consumption deploys the app package from.')
param deploymentContainerName string
@description('Log Analytics workspace that receives the table and blob access logs.')
param logAnalyticsWorkspaceId string
@description('Disabled with vnetEnabled: reachable only through private endpoints (modules/network.bicep).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false // no account keys, no SAS: Entra ID (managed identity) only
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // A second layer of encryption at rest (AVM storage-account default). Set at creation only: an account
    // provisioned before this line must be re-created (README "Re-provisioning").
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: { enabled: true }
        file: { enabled: true }
      }
    }
    // By default reachable from the internet, authorization by Entra ID + RBAC only (README "Network exposure");
    // with vnetEnabled only through private endpoints.
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

// Soft delete for blobs and containers (AVM blob-service defaults, 7 days): the deployment package and the host's
// containers survive a mistaken delete. Tables have no soft delete; their rows are short-lived state.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// One row per sign-in in flight (single use, <= 10 min).
resource authStateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: 'AuthState'
}

// One row per session (encrypted token cache partition).
resource authSessionsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: 'AuthSessions'
}

// Access logs of the tables (sessions, sign-in state) and blobs to Log Analytics: an audit trail of data access.
resource tableAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'access-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}

resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'access-to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}

output name string = storage.name
output resourceId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
// AUTH_STORAGE_ACCOUNT_URL: the Table endpoint, e.g. https://<account>.table.core.windows.net/
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output authStateTableName string = authStateTable.name
output authSessionsTableName string = authSessionsTable.name
