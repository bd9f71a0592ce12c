// Entra Sign-in Functions: one `azd up` deploys a least-privilege, secretless-by-default sign-in service.
// Subscription scope (as azd templates do): creates the resource group, then everything inside it.
targetScope = 'subscription'

// ---------------------------------------------------------------- azd environment
@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource: only regions that offer Flex Consumption (Learn "flex-consumption-plan", Considerations: not all regions are supported; list as in Azure-Samples/functions-quickstart-typescript-azd, without the canary region).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Keep the data plane off the internet: VNet integration for the Function App, private endpoints for storage (blob, table) and the Key Vault, their public network access off. Default false: public endpoints, Entra ID + RBAC only (README "Network exposure").')
param vnetEnabled bool = false

@description('default: create the Key Vault. recover: recover the soft-deleted vault of this environment (after `azd down`, purge protection keeps its name for 90 days). Only used by credentialMode secret and certificate.')
@allowed([
  'default'
  'recover'
])
param keyVaultCreateMode string = 'default'

// ---------------------------------------------------------------- client identity
@description('How the app proves its identity to Entra: managed-identity (secretless federated credential, default), secret (client secret in Key Vault) or certificate (Key Vault certificate imported by you).')
@allowed([
  'managed-identity'
  'secret'
  'certificate'
])
param credentialMode string = 'managed-identity'

@description('Create the Entra app registration with the Microsoft Graph Bicep extension (redirect and post-logout URIs, the delegated Graph permissions sign-in asks for, federated credential trusting the managed identity, the deployer as owner). False: bring your own, set clientId.')
param createAppRegistration bool = true

@description('Application (client) id of an existing app registration. Only when createAppRegistration is false.')
param clientId string = ''

@secure()
@description('Client secret of the app registration, stored in Key Vault. Only for credentialMode=secret; never put into app settings or outputs.')
param clientSecret string = ''

// ---------------------------------------------------------------- AUTH_* contract values
@description('AUTH_TENANT_ID: the Entra tenant users sign in to. Empty: the tenant of the deployment.')
param tenantId string = ''

@description('AUTH_AUTHORITY: full authority URL instead of https://login.microsoftonline.com/<tenant> (External ID, generic OIDC). Empty: the deployment cloud\'s sign-in endpoint with tenantId (set for you outside the public cloud).')
param authority string = ''

@description('AUTH_PROTOCOL: entra or oidc.')
@allowed([
  'entra'
  'oidc'
])
param protocol string = 'entra'

@description('AUTH_SCOPES: space-separated scopes asked at sign-in.')
param scopes string = 'User.Read'

@description('Comma-separated browser origins of your web apps (exact, e.g. https://www.contoso.com): CORS with credentials, and AUTH_ALLOWED_RETURN_ORIGINS. Each must be on the same site as the service (set publicHostName), else the app refuses to start: README "Use it from your site".')
param allowedOrigins string = ''

@description('Your own host name for the sign-in service, e.g. auth.contoso.com (same site as your web apps). Deploys Azure Front Door Standard (managed certificate, WAF rate rule) in front of the Function App and locks the app to it; AUTH_REDIRECT_URI, the reply URL and CORS follow this host. Empty: the default *.azurewebsites.net host (a site of its own), no Front Door.')
param publicHostName string = ''

@description('AUTH_NATIVE_REDIRECT_URIS: comma-separated exact redirect URIs of mobile apps, each optionally followed by a space and the app name shown on the sign-in page.')
param nativeRedirectUris string = ''

@description('AUTH_ALLOWED_TENANTS: comma-separated tenant ids accepted in ID tokens (needed only for multi-tenant authorities).')
param allowedTenants string = ''

@description('AUTH_REQUIRED_ROLES: comma-separated app role values; a user with none of them gets no session. Empty: no role gate.')
param requiredRoles string = ''

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
// The same rule as shared/config.ts (AUTH_ALLOWED_RETURN_ORIGINS): an exact origin, https (http only on loopback),
// lower case, nothing after the host[:port] (no path, not even "/"), no default port. The app would otherwise refuse
// its configuration at start-up and every endpoint would fail.
var originParts = map(originList, origin => {
  origin: origin
  // host[:port]: what follows the scheme (skip() past the end is '', never an error)
  host: skip(origin, indexOf(origin, '://') + 3)
})
var originChecks = map(originParts, o => {
  origin: o.origin
  secureScheme: startsWith(o.origin, 'https://') || (startsWith(o.origin, 'http://') && (o.host == 'localhost' || startsWith(o.host, 'localhost:') || o.host == '127.0.0.1' || startsWith(o.host, '127.0.0.1:') || o.host == '[::1]' || startsWith(o.host, '[::1]:')))
  lowerCase: o.origin == toLower(o.origin)
  hostOnly: !empty(o.host) && !endsWith(o.host, ':') && !contains(o.host, '/') && !contains(o.host, '?') && !contains(o.host, '#') && !contains(o.host, '@')
  noDefaultPort: !endsWith(o.origin, ':443') && !(startsWith(o.origin, 'http://') && endsWith(o.host, ':80'))
})
var badOrigins = map(filter(originChecks, c => !(c.secureScheme && c.lowerCase && c.hostOnly && c.noDefaultPort)), c => c.origin)
var validatedOrigins = contains(originList, '*')
  ? fail('allowedOrigins cannot contain "*": CORS with credentials needs exact origins.')
  : (empty(badOrigins)
      ? originList
      : fail('allowedOrigins must be exact origins such as https://app.example.com (https, lower case, no path or trailing slash, no default port): ${join(badOrigins, ', ')}'))

// The app registration is created in the deployment's tenant (signInAudience AzureADMyOrg): its client id exists
// nowhere else, so users must sign in to that tenant at this cloud's endpoint (else AADSTS700016 at the first sign-in).
var deploymentAuthority = '${environment().authentication.loginEndpoint}${tenant().tenantId}'
var validatedTenantId = useAppRegistration && ((!empty(tenantId) && toLower(tenantId) != toLower(tenant().tenantId)) || (!empty(authority) && toLower(authority) != toLower(deploymentAuthority) && toLower(authority) != toLower('${deploymentAuthority}/')))
  ? fail('createAppRegistration=true registers the app in the deployment tenant (${tenant().tenantId}): leave tenantId and authority empty (or authority = ${deploymentAuthority}), or bring your own registration (createAppRegistration=false, clientId).')
  : (empty(tenantId) ? tenant().tenantId : tenantId)
var effectiveTenantId = validatedTenantId
// shared/config.ts derives https://login.microsoftonline.com/<tenant> when AUTH_AUTHORITY is empty: right for the
// public cloud only, so elsewhere the cloud's own sign-in endpoint is passed explicitly.
var effectiveAuthority = empty(authority) && environment().name != 'AzureCloud'
  ? '${environment().authentication.loginEndpoint}${effectiveTenantId}'
  : authority

// The audience Entra requires of a managed identity's token used as a federated credential, per cloud (Learn
// "Configure an application to trust a managed identity"). The federated credential and AUTH_TOKEN_EXCHANGE_AUDIENCE
// both take this one value.
var tokenExchangeAudience = environment().name == 'AzureUSGovernment'
  ? 'api://AzureADTokenExchangeUSGov'
  : (environment().name == 'AzureChinaCloud' ? 'api://AzureADTokenExchangeChina' : 'api://AzureADTokenExchange')
var usesKeyVault = validatedCredentialMode != 'managed-identity'

// ---------------------------------------------------------------- names
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// The redirect URI must be known before the app exists (the app registration is created first and the
// app settings need its client id): the default host name of a site without a domain-name label scope.
var functionAppHostName = '${functionAppName}.azurewebsites.net'
// With publicHostName, browsers reach the service only through Front Door on that host (the app is locked to it).
var validatedPublicHostName = empty(publicHostName) || (toLower(publicHostName) == publicHostName && !contains(publicHostName, '/') && !contains(publicHostName, ':') && contains(publicHostName, '.'))
  ? publicHostName
  : fail('publicHostName must be a lower-case host name such as auth.contoso.com: no scheme, port or path.')
var publicHost = empty(validatedPublicHostName) ? functionAppHostName : validatedPublicHostName
var redirectUri = 'https://${publicHost}/auth/callback'
// Where Entra may send the user after sign-out: it must be a registered redirect URI (OpenID Connect RP-Initiated
// Logout 1.0 section 3; Learn "OpenID Connect on the Microsoft identity platform", sign-out). The app sends
// AUTH_POST_LOGOUT_REDIRECT_URI resolved against its own origin (shared/core/flow.ts endSession).
var postLogoutRedirectTarget = startsWith(postLogoutRedirectUri, '/')
  ? 'https://${publicHost}${postLogoutRedirectUri}'
  : postLogoutRedirectUri
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
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsResourceId
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
  }
}

// Only the secret and certificate modes read a vault: the default secretless mode has none, so `azd down` leaves no
// soft-deleted vault behind that would block the next `azd up` of the same environment (purge protection, 90 days).
module keyVault 'modules/keyvault.bicep' = if (usesKeyVault) {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    createMode: keyVaultCreateMode
    clientSecretName: clientSecretName
    clientSecret: clientSecret
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsResourceId
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
  }
}

module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.resourceId
    keyVaultId: usesKeyVault ? keyVault.outputs.resourceId : ''
  }
}

module appRegistration 'modules/app-registration.bicep' = if (useAppRegistration) {
  name: 'appregistration'
  scope: rg
  params: {
    uniqueName: 'entra-signin-${environmentName}-${resourceToken}'
    displayName: 'Entra Sign-in Functions (${environmentName})'
    redirectUris: union([redirectUri], [postLogoutRedirectTarget])
    managedIdentityPrincipalId: identity.outputs.principalId
    tokenExchangeAudience: tokenExchangeAudience
  }
}

var effectiveClientId = useAppRegistration ? appRegistration.outputs.clientId : clientId

module frontDoor 'modules/front-door.bicep' = if (!empty(validatedPublicHostName)) {
  name: 'frontdoor'
  scope: rg
  params: {
    resourceToken: resourceToken
    tags: tags
    publicHostName: validatedPublicHostName
    originHostName: functionAppHostName
  }
}

module api 'modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  // The site is created after its roles: Flex publishes the package with the app's identity (Storage Blob Data
  // Owner). Role assignments still take a while to propagate, so the first `azd deploy` can get a 403 (README).
  dependsOn: [
    rbac
  ]
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
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    allowedOrigins: validatedOrigins
    frontDoorId: empty(validatedPublicHostName) ? '' : (frontDoor.outputs.frontDoorId)
    clientId: effectiveClientId
    tenantId: effectiveTenantId
    authority: effectiveAuthority
    protocol: protocol
    redirectUri: redirectUri
    scopes: scopes
    keyVaultUrl: usesKeyVault ? keyVault.outputs.vaultUri : ''
    tokenExchangeAudience: tokenExchangeAudience
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
    requiredRoles: requiredRoles
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
    keyVaultName: usesKeyVault ? keyVault.outputs.name : ''
    // The one vault item the app reads: the client secret, or the certificate (through its backing secret).
    keyVaultSecretName: validatedCredentialMode == 'certificate' ? clientCertificateName : clientSecretName
    // Scope the read role to that secret when this deployment creates it; otherwise (a secret or certificate you
    // add later) the scope cannot exist yet, so the role is on the vault, which holds nothing else.
    keyVaultSecretExists: validatedCredentialMode == 'secret' && !empty(clientSecret)
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// ---------------------------------------------------------------- outputs (azd writes them to .azure/<env>/.env)
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
// The redirect URI, the registered reply URLs and AUTH_REDIRECT_URI were built from the assumed host name; fail the
// deployment if the site's real default host name differs (e.g. a domain-name label scope), rather than deploy a
// sign-in whose redirect URI nobody serves.
output SERVICE_API_URI string = api.outputs.defaultHostName == functionAppHostName
  ? 'https://${publicHost}'
  : fail('The site answers on ${api.outputs.defaultHostName}, not ${functionAppHostName}: the redirect URI would not reach it.')
output SIGNIN_DNS_RECORDS string = empty(validatedPublicHostName)
  ? 'none (no publicHostName)'
  : 'TXT _dnsauth.${validatedPublicHostName} = ${frontDoor.outputs.customDomainValidationToken}; CNAME ${validatedPublicHostName} -> ${frontDoor.outputs.endpointHostName}'
output AUTH_CLIENT_ID string = effectiveClientId
output AUTH_REDIRECT_URI string = redirectUri
output SIGNIN_KEY_VAULT_NAME string = usesKeyVault ? keyVault.outputs.name : ''
output AUTH_KEY_VAULT_URL string = usesKeyVault ? keyVault.outputs.vaultUri : ''
output AUTH_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SIGNIN_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SIGNIN_NEXT_STEPS string = validatedCredentialMode == 'secret'
  ? 'credentialMode=secret: the app reads Key Vault secret "${clientSecretName}". If you did not pass SIGNIN_CLIENT_SECRET, add a client secret to the app registration and store it there (README: Rotate the client secret); sign-in fails until then.'
  : validatedCredentialMode == 'certificate'
      ? 'credentialMode=certificate: import the certificate into Key Vault as "${clientCertificateName}" and upload its public key to the app registration.'
      : (!useAppRegistration
          ? 'Bring-your-own app registration: add a federated credential (issuer ${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0, subject = SIGNIN_MANAGED_IDENTITY_PRINCIPAL_ID, audience ${tokenExchangeAudience}), the web redirect URIs ${redirectUri} and ${postLogoutRedirectTarget}, and the delegated permissions openid profile offline_access ${scopes}.'
          : (scopes != 'User.Read'
              ? 'Secretless, app registration created with openid profile offline_access User.Read only: add the API permissions for "${scopes}" to it and grant admin consent. The federated credential can take a minute to propagate (503 credential_unavailable until then).'
              : 'none: secretless (managed identity as federated credential), app registration created. The federated credential can take a minute to propagate (503 credential_unavailable until then).'))
