// Optional: the Entra app registration itself, through the Microsoft Graph Bicep extension
// (alias in ../bicepconfig.json). It trusts the Function App's managed identity through a federated
// identity credential, so AUTH_CREDENTIAL=managed-identity needs no client secret at all.
// The deploying user needs permission to create applications (Application Developer, or
// Application.ReadWrite.All / Application.ReadWrite.OwnedBy for a service principal).

extension microsoftGraphV1

@description('Immutable client-provided key of the application (lets redeployments find it again).')
param uniqueName string
param displayName string
@description('Web redirect URIs: https://<host>/auth/callback and the post-logout target(s) (Entra sends the user back after sign-out only to a registered one).')
param redirectUris array
@description('Principal (object) id of the user-assigned managed identity the app runs as.')
param managedIdentityPrincipalId string
@description('Audience of the managed identity token the federated credential accepts (api://AzureADTokenExchange in the public cloud).')
param tokenExchangeAudience string = 'api://AzureADTokenExchange'

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph
// The delegated Graph permissions every sign-in asks for: openid profile offline_access (shared/config.ts
// OIDC_SCOPES) and User.Read (the AUTH_SCOPES default). Declared, so "Grant admin consent" covers all of them
// where users may not consent themselves (else AADSTS65001). Ids: Learn "Microsoft Graph permissions reference".
var openidScopeId = '37f7f235-527c-4136-accd-4a02d197296e' // delegated permission openid
var profileScopeId = '14dad69e-099b-42c9-810b-d002981feec1' // delegated permission profile
var offlineAccessScopeId = '7427e0e9-2fba-42fe-b0c0-848c9e6a8182' // delegated permission offline_access
var userReadScopeId = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d' // delegated permission User.Read
// Whoever runs `azd up` (a user, or the pipeline's service principal).
var deployerObjectId = deployer().objectId
// Tokens of managed identities in this tenant are issued by the tenant's v2.0 endpoint.
var managedIdentityIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

resource application 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  // The deployer owns it, so the README's rotation and consent steps work without an admin role. `append` (the
  // default) keeps owners added by hand. Learn "Modeling relationships in Microsoft Graph Bicep types".
  owners: {
    relationshipSemantics: 'append'
    relationships: [
      deployerObjectId
    ]
  }
  web: {
    redirectUris: redirectUris
    // Front-channel logout URL: Entra's sign-out page loads it in an iframe with the session's sid
    // (https://learn.microsoft.com/graph/api/resources/webapplication, logoutUrl).
    logoutUrl: replace(redirectUris[0], '/auth/callback', '/auth/frontchannel-logout')
    implicitGrantSettings: {
      enableAccessTokenIssuance: false
      enableIdTokenIssuance: false
    }
  }
  // login_hint in the ID token lets sign-out send logout_hint, so Entra shows no account picker.
  optionalClaims: {
    idToken: [
      { name: 'login_hint', essential: false }
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        {
          id: openidScopeId
          type: 'Scope'
        }
        {
          id: profileScopeId
          type: 'Scope'
        }
        {
          id: offlineAccessScopeId
          type: 'Scope'
        }
        {
          id: userReadScopeId
          type: 'Scope'
        }
      ]
    }
  ]

  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${application.uniqueName}/function-app-managed-identity'
    description: 'The sign-in Function App\'s user-assigned managed identity is this app\'s client credential (no secret).'
    audiences: [
      tokenExchangeAudience
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
