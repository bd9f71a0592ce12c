// Optional: the Entra app registration itself, through the Microsoft Graph Bicep extension
// (alias in ../bicepconfig.json). It trusts the Function App's managed identity through a federated
// identity credential, so AUTH_CREDENTIAL=managed-identity needs no client secret at all.
// The deploying user needs permission to create applications (Application Developer, or
// Application.ReadWrite.All / Application.ReadWrite.OwnedBy for a service principal).

extension microsoftGraphV1

@description('Immutable client-provided key of the application (lets redeployments find it again).')
param uniqueName string
param displayName string
@description('https://<default host name>/auth/callback')
param redirectUri string
@description('Principal (object) id of the user-assigned managed identity the app runs as.')
param managedIdentityPrincipalId string

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph
var userReadScopeId = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d' // delegated permission User.Read
// Tokens of managed identities in this tenant are issued by the tenant's v2.0 endpoint.
var managedIdentityIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

resource application 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  web: {
    redirectUris: [
      redirectUri
    ]
    // Front-channel logout URL: Entra's sign-out page loads it in an iframe with the session's sid
    // (https://learn.microsoft.com/graph/api/resources/webapplication, logoutUrl).
    logoutUrl: replace(redirectUri, '/auth/callback', '/auth/frontchannel-logout')
    implicitGrantSettings: {
      enableAccessTokenIssuance: false
      enableIdTokenIssuance: false
    }
  }
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        {
          id: userReadScopeId
          type: 'Scope'
        }
      ]
    }
  ]

  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${application.uniqueName}/function-app-managed-identity'
    description: 'The sign-in Function App managed identity is this app\'s client credential (no secret).'
    audiences: [
      'api://AzureADTokenExchange'
    ]
    issuer: managedIdentityIssuer
    subject: managedIdentityPrincipalId
  }
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: application.appId
}

output clientId string = application.appId
output federatedCredentialIssuer string = managedIdentityIssuer
