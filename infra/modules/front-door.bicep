// Optional (main.bicep `publicHostName`): Azure Front Door Standard in front of the Function App, so the sign-in
// service answers on your own host name (e.g. auth.contoso.com), on the same site as your web apps. The session
// cookie is SameSite=Lax on that host: pages on www.contoso.com send it, pages on another site never do
// (`*.azurewebsites.net` is on the Public Suffix List, so the default host is a site of its own).
//
// - Custom domain with a Front Door managed certificate (Flex Consumption has no managed certificates:
//   https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations).
//   After the deployment, create the two DNS records in the outputs: TXT _dnsauth.<host> = validation token
//   (domain ownership), and CNAME <host> -> the endpoint host name. Front Door then issues and renews the
//   certificate: https://learn.microsoft.com/azure/frontdoor/standard-premium/how-to-add-custom-domain
// - WAF policy with the per-client rate rule SECURITY.md describes (custom rules, including rate limits, work on the
//   Standard tier; managed rule sets need Premium):
//   https://learn.microsoft.com/azure/web-application-firewall/afds/waf-front-door-rate-limit
// - No caching, no health probe (one origin: Front Door recommends none), HTTPS only to the origin.
// The app is locked to this profile by main.bicep/function-app.bicep: an access restriction on the
// AzureFrontDoor.Backend service tag plus this profile's X-Azure-FDID header (`frontDoorId` below):
// https://learn.microsoft.com/azure/frontdoor/origin-security#app-service

@description('Resource name seed (the azd resource token).')
param resourceToken string
param tags object = {}
@description('Your host name for the sign-in service, e.g. auth.contoso.com (no scheme, no port).')
param publicHostName string
@description('The Function App default host name (<name>.azurewebsites.net): the origin.')
param originHostName string
@description('Requests to /auth/login and /auth/token one client address may make per minute before a 429.')
@minValue(1)
param signInRequestsPerMinute int = 30

var sku = 'Standard_AzureFrontDoor'

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: 'afd-${resourceToken}'
  location: 'global'
  tags: tags
  sku: {
    name: sku
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: 'signin-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

resource customDomain 'Microsoft.Cdn/profiles/customDomains@2024-02-01' = {
  parent: profile
  name: replace(publicHostName, '.', '-')
  properties: {
    hostName: publicHostName
    tlsSettings: {
      certificateType: 'ManagedCertificate'
      minimumTlsVersion: 'TLS12'
    }
  }
}

resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'functions'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
    }
    sessionAffinityState: 'Disabled'
  }
}

resource origin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: originGroup
  name: 'function-app'
  properties: {
    hostName: originHostName
    // Azure routes to the app by this Host; the service never builds a URL from Host (AUTH_REDIRECT_URI does).
    originHostHeader: originHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enforceCertificateNameCheck: true
  }
}

resource route 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'all'
  dependsOn: [
    origin // the origin group must not be empty when the route is created
  ]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    customDomains: [
      {
        id: customDomain.id
      }
    ]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    patternsToMatch: [
      '/*'
    ]
    forwardingProtocol: 'HttpsOnly'
    httpsRedirect: 'Enabled'
    linkToDefaultDomain: 'Disabled'
  }
}

// WAF policy names are letters and digits only.
resource wafPolicy 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' = {
  name: 'waf${resourceToken}'
  location: 'global'
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
      customBlockResponseStatusCode: 429
    }
    customRules: {
      rules: [
        {
          // SECURITY.md "Limits, and what to put in front": per client address, on the two routes that write rows.
          name: 'signinrate'
          priority: 100
          enabledState: 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: signInRequestsPerMinute
          groupBy: [
            {
              variableName: 'SocketAddr'
            }
          ]
          action: 'Block'
          matchConditions: [
            {
              matchVariable: 'RequestUri'
              operator: 'Contains'
              negateCondition: false
              matchValue: [
                '/auth/login'
                '/auth/token'
              ]
              transforms: [
                'Lowercase'
              ]
            }
          ]
        }
      ]
    }
  }
}

resource securityPolicy 'Microsoft.Cdn/profiles/securityPolicies@2024-02-01' = {
  parent: profile
  name: 'signin-waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: wafPolicy.id
      }
      associations: [
        {
          domains: [
            {
              id: customDomain.id
            }
          ]
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

@description('The X-Azure-FDID value Front Door sends: the Function App accepts only requests carrying it.')
output frontDoorId string = profile.properties.frontDoorId
@description('CNAME target for publicHostName.')
output endpointHostName string = endpoint.properties.hostName
@description('TXT record value for _dnsauth.<publicHostName> (domain ownership, then the managed certificate).')
output customDomainValidationToken string = customDomain.properties.validationProperties.validationToken
