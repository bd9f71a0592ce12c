// Log Analytics + Application Insights with local (instrumentation-key) authentication disabled:
// telemetry is accepted only with an Entra token (the app's managed identity, Monitoring Metrics Publisher).
// Pinned Azure Verified Modules, the versions used by Azure-Samples/functions-quickstart-typescript-azd.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'loganalytics'
  params: {
    name: logAnalyticsName
    location: location
    tags: tags
    dataRetention: 30
  }
}

module applicationInsights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'appinsights'
  params: {
    name: applicationInsightsName
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true // Entra-authenticated ingestion only
    // Keep IP masking on (the platform default; the AVM module's default is true = masking off): request telemetry of
    // every /auth/* call would otherwise store each user's full client IP (SECURITY.md: no IPs in telemetry).
    disableIpMasking: false
  }
}

output applicationInsightsName string = applicationInsights.outputs.name
output applicationInsightsResourceId string = applicationInsights.outputs.resourceId
output logAnalyticsResourceId string = logAnalytics.outputs.resourceId
