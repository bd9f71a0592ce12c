// Entra Sign-in Functions: one `azd up` deploys a least-privilege, secretless-by-default sign-in service.
// Subscription scope (as azd templates do): creates the resource group, then everything inside it.
targetScope = 'subscription'

// ---------------------------------------------------------------- azd environment
@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource (must offer Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------- client identity
@description('How the app proves its identity to Entra: managed-identity (secretless federated credential, default), secret (client secret in Key Vault) or certificate (Key Vault certificate imported by you).')
@allowed([
  'managed-identity'
  'secret'
  'certificate'
])
param credentialMode string = 'managed-identity'

@description('Create the Entra app registration with the Microsoft Graph Bicep extension (redirect URI, User.Read, federated credential trusting the managed identity). False: bring your own, set clientId.')
param createAppRegistration bool = true

@description('Application (client) id of an existing app registration. Only when createAppRegistration is false.')
param clientId string = ''

@secure()
@description('Client secret of the app registration, stored in Key Vault. Only for credentialMode=secret; never put into app settings or outputs.')
param clientSecret string = ''

// ---------------------------------------------------------------- AUTH_* contract values
@description('AUTH_TENANT_ID: the Entra tenant users sign in to. Empty: the tenant of the deployment.')
param tenantId string = ''

@description('AUTH_AUTHORITY: full authority URL instead of https://login.microsoftonline.com/<tenant> (External ID, sovereign clouds, generic OIDC). Empty: derived from tenantId.')
param authority string = ''

@description('AUTH_PROTOCOL: entra or oidc.')
@allowed([
  'entra'
  'oidc'
])
param protocol string = 'entra'

@description('AUTH_SCOPES: space-separated scopes asked at sign-in.')
param scopes string = 'User.Read'

@description('Comma-separated browser origins of your web apps (exact, e.g. https://app.example.com): CORS with credentials, and AUTH_ALLOWED_RETURN_ORIGINS.')
param allowedOrigins string = ''

@description('AUTH_NATIVE_REDIRECT_URIS: comma-separated exact redirect URIs of mobile apps.')
param nativeRedirectUris string = ''

@description('AUTH_ALLOWED_TENANTS: comma-separated tenant ids accepted in ID tokens (needed only for multi-tenant authorities).')
param allowedTenants string = ''

@description('AUTH_POST_LOGOUT_REDIRECT_URI: where sign-out ends by default (relative path or URL on an allowed origin).')
param postLogoutRedirectUri string = '/'

@minValue(5)
@maxValue(43200)
param sessionIdleMinutes int = 480

@minValue(1)
@maxValue(2160)
param sessionAbsoluteHours int = 24

@description('AUTH_SIGNIN_RATE_PER_SECOND: sign-ins one instance starts per second (bursts of twice that); 0 turns the limit off.')
@minValue(0)
@maxValue(100000)
param signInRatePerSecond int = 100

@description('AUTH_APIS: upstream APIs of the token-free proxy /auth/api/{name}, ";"-separated "name=<https base URL> <scope> [<scope> ...]". Empty: no proxy.')
param apis string = ''

@description('AUTH_CLIENT_SECRET_NAME: Key Vault secret holding the client secret.')
param clientSecretName string = 'auth-client-secret'

@description('AUTH_CLIENT_CERTIFICATE_NAME: Key Vault certificate for credentialMode=certificate.')
param clientCertificateName string = 'auth-client-certificate'

// ---------------------------------------------------------------- Flex Consumption sizing
@description('Instance memory of the Flex Consumption plan (billing is GB-s of this size while executing).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

// ---------------------------------------------------------------- validation (fails the deployment)
// Bicep `fail()` inside a short-circuiting ternary: evaluated by ARM at deployment time, before any
// resource that uses the value is created. (Chosen over `assert`, which needs the experimental
// "assertions" feature.) Each validated value below is consumed by a resource or module, so the
// check cannot be skipped.
var useAppRegistration = createAppRegistration
  ? (empty(clientId)
      ? true
      : fail('Set clientId or createAppRegistration=true, not both: which app registration to use would be a guess.'))
  : (!empty(clientId)
      ? false
      : fail('clientId is required when createAppRegistration=false (AUTH_CLIENT_ID has no default).'))

var validatedCredentialMode = credentialMode == 'secret'
  ? (!empty(clientSecret) || createAppRegistration
      ? credentialMode
      : fail('credentialMode=secret needs clientSecret (or createAppRegistration=true and the secret added to Key Vault afterwards).'))
  : (empty(clientSecret)
      ? credentialMode
      : fail('clientSecret is given but credentialMode is not "secret": it would sit unused in Key Vault. Remove it or set credentialMode=secret.'))

var originList = filter(map(split(allowedOrigins, ','), origin => trim(origin)), origin => !empty(origin))
var validatedOrigins = contains(originList, '*')
  ? fail('allowedOrigins cannot contain "*": CORS with credentials needs exact origins.')
  : originList

var effectiveTenantId = empty(tenantId) ? tenant().tenantId : tenantId

// ---------------------------------------------------------------- names
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// The redirect URI must be known before the app exists (the app registration is created first and the
// app settings need its client id): the default host name of a site without a domain-name label scope.
var functionAppHostName = '${functionAppName}.azurewebsites.net'
var redirectUri = 'https://${functionAppHostName}/auth/callback'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

// The identity the Function App runs as; also the secretless client credential (federated).
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    clientSecretName: clientSecretName
    clientSecret: clientSecret
  }
}

module appRegistration 'modules/app-registration.bicep' = if (useAppRegistration) {
  name: 'appregistration'
  scope: rg
  params: {
    uniqueName: 'entra-signin-${environmentName}-${resourceToken}'
    displayName: 'Entra Sign-in Functions (${environmentName})'
    redirectUri: redirectUri
    managedIdentityPrincipalId: identity.outputs.principalId
  }
}

var effectiveClientId = useAppRegistration ? appRegistration.outputs.clientId : clientId

module api 'modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    allowedOrigins: validatedOrigins
    clientId: effectiveClientId
    tenantId: effectiveTenantId
    authority: authority
    protocol: protocol
    redirectUri: redirectUri
    scopes: scopes
    keyVaultUrl: keyVault.outputs.vaultUri
    clientSecretName: clientSecretName
    clientCertificateName: clientCertificateName
    credentialMode: validatedCredentialMode
    tableEndpoint: storage.outputs.tableEndpoint
    nativeRedirectUris: nativeRedirectUris
    allowedTenants: allowedTenants
    postLogoutRedirectUri: postLogoutRedirectUri
    sessionIdleMinutes: sessionIdleMinutes
    sessionAbsoluteHours: sessionAbsoluteHours
    signInRatePerSecond: signInRatePerSecond
    apis: apis
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    authStateTableName: storage.outputs.authStateTableName
    authSessionsTableName: storage.outputs.authSessionsTableName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// ---------------------------------------------------------------- outputs (azd writes them to .azure/<env>/.env)
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}'
output AUTH_CLIENT_ID string = effectiveClientId
output AUTH_REDIRECT_URI string = redirectUri
output SIGNIN_KEY_VAULT_NAME string = keyVault.outputs.name
output AUTH_KEY_VAULT_URL string = keyVault.outputs.vaultUri
output AUTH_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SIGNIN_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SIGNIN_NEXT_STEPS string = validatedCredentialMode == 'secret'
  ? 'credentialMode=secret: the app reads Key Vault secret "${clientSecretName}". If you did not pass SIGNIN_CLIENT_SECRET, add a client secret to the app registration and store it there (README: Rotate the client secret); sign-in fails until then.'
  : validatedCredentialMode == 'certificate'
      ? 'credentialMode=certificate: import the certificate into Key Vault as "${clientCertificateName}" and upload its public key to the app registration.'
      : (!useAppRegistration
          ? 'Bring-your-own app registration: add a federated credential (issuer ${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0, subject = SIGNIN_MANAGED_IDENTITY_PRINCIPAL_ID, audience api://AzureADTokenExchange) and the redirect URI ${redirectUri}.'
          : 'none: secretless (managed identity as federated credential), app registration created.')
