// Key Vault in RBAC mode (no access policies) with soft delete and purge protection, deployed only for the
// secret and certificate modes (main.bicep). The client secret is created only when one is given. The app's
// identity may read that one item and nothing else in the vault; every read is audited to Log Analytics.

param name string
param location string
param tags object = {}
@description('default, or recover: bring back the soft-deleted vault of the same name (after `azd down`; purge protection keeps the name for 90 days).')
@allowed([
  'default'
  'recover'
])
param createMode string = 'default'
@description('Name of the secret that holds the client secret (AUTH_CLIENT_SECRET_NAME).')
param clientSecretName string
@secure()
@description('The Entra client secret. Empty: no secret is created (set it later).')
param clientSecret string = ''
@description('Log Analytics workspace that receives the vault\'s audit log (every secret read).')
param logAnalyticsWorkspaceId string
@description('Disabled with vnetEnabled: reachable only through private endpoints (modules/network.bicep).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    createMode: createMode
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true // Azure RBAC only: no vault access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // By default reachable from the internet, authorization by Entra ID + RBAC only (README "Network exposure");
    // with vnetEnabled only through private endpoints.
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource clientSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  parent: vault
  name: clientSecretName
  properties: {
    value: clientSecret
    contentType: 'Entra client secret for the sign-in service'
  }
}

// Audit trail: who read which secret, when (Learn "Key Vault logging": the AuditEvent category, group `audit`).
resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output resourceId string = vault.id
// AUTH_KEY_VAULT_URL
output vaultUri string = vault.properties.vaultUri
