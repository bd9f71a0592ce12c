// Key Vault in RBAC mode (no access policies) with soft delete and purge protection.
// The client secret is created only when one is given; in the secretless mode there is none.

param name string
param location string
param tags object = {}
@description('Name of the secret that holds the client secret (AUTH_CLIENT_SECRET_NAME).')
param clientSecretName string
@secure()
@description('The Entra client secret. Empty: no secret is created (managed-identity mode, or set it later).')
param clientSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true // Azure RBAC only: no vault access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
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

output name string = vault.name
output resourceId string = vault.id
// AUTH_KEY_VAULT_URL
output vaultUri string = vault.properties.vaultUri
