// Role assignments for the app's managed identity: least privilege, each role named beside its GUID.
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param principalId string
param storageAccountName string
param authStateTableName string
param authSessionsTableName string
@description('Empty in the managed-identity mode: no vault, no vault role.')
param keyVaultName string = ''
@description('The one vault item the app reads (the client secret, or the certificate\'s backing secret).')
param keyVaultSecretName string = ''
@description('True when that secret exists at deployment time (created by this template): the role is then scoped to it alone.')
param keyVaultSecretExists bool = false
param applicationInsightsName string

var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource authStateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: authStateTableName
}

resource authSessionsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: authSessionsTableName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource vaultSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: keyVaultSecretName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Table data on the two tables only (not the whole account).
resource authStateTableData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(authStateTable.id, principalId, storageTableDataContributor)
  scope: authStateTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource authSessionsTableData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(authSessionsTable.id, principalId, storageTableDataContributor)
  scope: authSessionsTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Blob data: the Functions host (AzureWebJobsStorage: locks, timer state) and the deployment package container.
resource blobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Read secret values, only in the modes that use a vault (secret, certificate); no list/write/delete. Scoped to the
// one secret when it exists now (Key Vault RBAC supports per-secret scope: Learn "Azure RBAC for Key Vault"), else to
// the vault, which is this app's alone and holds only that item (a role scope must exist when it is assigned).
resource vaultSecretRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyVaultName) && keyVaultSecretExists) {
  name: guid(vaultSecret.id, principalId, keyVaultSecretsUser)
  scope: vaultSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(keyVaultName) && !keyVaultSecretExists) {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry ingestion into Application Insights.
resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
