// The sign-in Function App on Flex Consumption (FC1, Linux, Node 22) with a user-assigned managed identity.
// Every connection is identity-based: no storage keys, no connection strings with keys, no listKeys().
// App settings are written out one by one so that test/infra checks them against shared/config.ts SETTINGS.

param name string
param location string
param tags object = {}
param planName string
@description('Resource id of the user-assigned managed identity the app runs as.')
param identityResourceId string
@description('Client id of that identity (AzureWebJobsStorage__clientId, App Insights, AUTH_MANAGED_IDENTITY_CLIENT_ID).')
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
@description('Subnet delegated to Microsoft.App/environments (vnetEnabled); empty: no VNet integration.')
param virtualNetworkSubnetId string = ''
@description('Browser origins allowed by CORS (with credentials) and as absolute returnTo targets.')
param allowedOrigins array = []
@description('X-Azure-FDID of the Front Door profile in front (publicHostName); empty: no Front Door, no lock.')
param frontDoorId string = ''

// ---- AUTH_* settings (the contract: README "Configuration", parsed by shared/config.ts) ----
param clientId string
param tenantId string
param authority string = ''
param protocol string = 'entra'
param redirectUri string
param scopes string = 'User.Read'
@description('Empty in the managed-identity mode (no vault).')
param keyVaultUrl string
@description('AUTH_TOKEN_EXCHANGE_AUDIENCE: the same value as the federated credential\'s audience.')
param tokenExchangeAudience string = 'api://AzureADTokenExchange'
param clientSecretName string = 'auth-client-secret'
param clientCertificateName string = 'auth-client-certificate'
@allowed(['managed-identity', 'secret', 'certificate'])
param credentialMode string
param tableEndpoint string
@description('Comma-separated, as in the AUTH_* contract.')
param nativeRedirectUris string = ''
@description('Comma-separated, as in the AUTH_* contract.')
param allowedTenants string = ''
param postLogoutRedirectUri string = '/'
param sessionIdleMinutes int = 480
param sessionAbsoluteHours int = 24
param signInRatePerSecond int = 100
@description('Comma-separated, as in the AUTH_* contract.')
param requiredRoles string = ''

@description('AUTH_APIS, as in the AUTH_* contract: ";"-separated "name=<https base URL> <scope> ...".')
param apis string = ''

// Token-flow SPAs (web entries of AUTH_NATIVE_REDIRECT_URIS) get CORS from the app on its token routes only. But
// once the platform's CORS list is not empty, the platform answers every preflight itself (ASP.NET Core
// CorsMiddleware), so their origins must be in that list too.
var nativeWebOrigins = map(filter(map(split(nativeRedirectUris, ','), uri => trim(uri)), uri => startsWith(uri, 'https://')), uri => 'https://${split(substring(uri, 8), '/')[0]}')
var platformCorsOrigins = empty(allowedOrigins) ? [] : union(allowedOrigins, nativeWebOrigins)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Flex Consumption plan (pinned AVM, as in the azd Functions TypeScript quickstart).
module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'flexconsumptionplan'
  params: {
    name: planName
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.outputs.resourceId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    httpsOnly: true
    clientAffinityEnabled: false
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      cors: {
        allowedOrigins: platformCorsOrigins
        supportCredentials: true
      }
      // publicHostName: only Front Door (service tag) with this profile's id (header) reaches the app.
      // https://learn.microsoft.com/azure/frontdoor/origin-security#app-service
      ipSecurityRestrictions: empty(frontDoorId)
        ? []
        : [
            {
              name: 'front-door-only'
              tag: 'ServiceTag'
              ipAddress: 'AzureFrontDoor.Backend'
              action: 'Allow'
              priority: 100
              headers: {
                'x-azure-fdid': [
                  frontDoorId
                ]
              }
            }
          ]
      ipSecurityRestrictionsDefaultAction: empty(frontDoorId) ? 'Allow' : 'Deny'
      appSettings: [
        // Functions host storage, identity-based (no AccountKey anywhere).
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // Application Insights with Entra ingestion: the instrumentation key in the connection string
        // is only an identifier because the component has disableLocalAuth = true.
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD;ClientId=${identityClientId}' }
        // The AUTH_* contract. Empty values mean "not set" to shared/config.ts.
        { name: 'AUTH_CLIENT_ID', value: clientId }
        { name: 'AUTH_TENANT_ID', value: tenantId }
        { name: 'AUTH_AUTHORITY', value: authority }
        { name: 'AUTH_PROTOCOL', value: protocol }
        { name: 'AUTH_REDIRECT_URI', value: redirectUri }
        { name: 'AUTH_SCOPES', value: scopes }
        { name: 'AUTH_CREDENTIAL', value: credentialMode }
        { name: 'AUTH_MANAGED_IDENTITY_CLIENT_ID', value: identityClientId }
        { name: 'AUTH_TOKEN_EXCHANGE_AUDIENCE', value: tokenExchangeAudience }
        { name: 'AUTH_KEY_VAULT_URL', value: keyVaultUrl }
        { name: 'AUTH_CLIENT_SECRET_NAME', value: clientSecretName }
        { name: 'AUTH_CLIENT_CERTIFICATE_NAME', value: clientCertificateName }
        { name: 'AUTH_STORAGE_ACCOUNT_URL', value: tableEndpoint }
        { name: 'AUTH_ALLOWED_RETURN_ORIGINS', value: join(allowedOrigins, ',') }
        { name: 'AUTH_NATIVE_REDIRECT_URIS', value: nativeRedirectUris }
        { name: 'AUTH_ALLOWED_TENANTS', value: allowedTenants }
        { name: 'AUTH_POST_LOGOUT_REDIRECT_URI', value: postLogoutRedirectUri }
        { name: 'AUTH_SESSION_IDLE_MINUTES', value: string(sessionIdleMinutes) }
        { name: 'AUTH_SESSION_ABSOLUTE_HOURS', value: string(sessionAbsoluteHours) }
        { name: 'AUTH_SIGNIN_RATE_PER_SECOND', value: string(signInRatePerSecond) }
        { name: 'AUTH_REQUIRED_ROLES', value: requiredRoles }
        { name: 'AUTH_APIS', value: apis }
      ]
    }
  }
}

// No basic-auth (user name / password) publishing on the SCM (Kudu) or FTP endpoints: azd deploys with an Entra
// token (MCSB / Azure Policy "local authentication methods disabled for SCM and FTP").
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
