/**
 * publicHostName (README "Use it from your site", topology 1): Azure Front Door Standard with a managed certificate,
 * the WAF rate rule SECURITY.md describes, the Function App locked to this profile, and AUTH_REDIRECT_URI (hence
 * the app registration's reply URL and the cookie's host) on that host. Offline, over the Bicep syntax tree.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BicepFile,
  type Declaration,
  INFRA_DIR,
  getProperty,
  loadInfra,
  modules,
  resources,
  stringValue,
  syntaxProblems,
} from './_bicep';

let files: BicepFile[];
const file = (name: string) => files.find((f) => f.path.endsWith(name))!;
const resourceOf = (name: string, type: string): Declaration => {
  const found = resources(file(name)).find((r) => r.type === type && !r.existing);
  if (!found) throw new Error(`${type} not declared in ${name}`);
  return found;
};
const text = (node: unknown) => (node as { text?: string } | undefined)?.text ?? '';

beforeAll(async () => {
  files = await loadInfra();
});

describe('infra/modules/front-door.bicep', () => {
  test('parses with no syntax errors', () => {
    expect(syntaxProblems(file('modules/front-door.bicep'))).toEqual([]);
  });

  test('Front Door Standard (not Premium: custom and rate rules work on Standard)', () => {
    const profile = resourceOf('modules/front-door.bicep', 'Microsoft.Cdn/profiles');
    expect(text(getProperty(profile.body, 'sku', 'name'))).toBe('sku');
    expect(file('modules/front-door.bicep').source).toMatch(/var sku = 'Standard_AzureFrontDoor'/);
  });

  test('the custom domain is publicHostName with a Front Door managed certificate, TLS 1.2', () => {
    const domain = resourceOf('modules/front-door.bicep', 'Microsoft.Cdn/profiles/customDomains');
    expect(text(getProperty(domain.body, 'properties', 'hostName'))).toBe('publicHostName');
    expect(stringValue(getProperty(domain.body, 'properties', 'tlsSettings', 'certificateType'))).toBe(
      'ManagedCertificate',
    );
    expect(stringValue(getProperty(domain.body, 'properties', 'tlsSettings', 'minimumTlsVersion'))).toBe('TLS12');
  });

  test('the route serves the custom domain only, HTTPS to the origin, no caching', () => {
    const route = resourceOf('modules/front-door.bicep', 'Microsoft.Cdn/profiles/afdEndpoints/routes');
    expect(text(getProperty(route.body, 'properties', 'customDomains'))).toContain('customDomain.id');
    expect(stringValue(getProperty(route.body, 'properties', 'forwardingProtocol'))).toBe('HttpsOnly');
    expect(stringValue(getProperty(route.body, 'properties', 'linkToDefaultDomain'))).toBe('Disabled');
    expect(getProperty(route.body, 'properties', 'cacheConfiguration')).toBeUndefined();
  });

  test('the WAF rate rule of SECURITY.md: /auth/login and /auth/token, per client address, blocked with 429', () => {
    const waf = resourceOf('modules/front-door.bicep', 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies');
    expect(stringValue(getProperty(waf.body, 'properties', 'policySettings', 'mode'))).toBe('Prevention');
    expect(text(getProperty(waf.body, 'properties', 'policySettings', 'customBlockResponseStatusCode'))).toBe('429');
    const rules = text(getProperty(waf.body, 'properties', 'customRules', 'rules'));
    expect(rules).toMatch(/ruleType: 'RateLimitRule'/);
    expect(rules).toMatch(/rateLimitDurationInMinutes: 1\b/);
    expect(rules).toMatch(/variableName: 'SocketAddr'/);
    expect(rules).toMatch(/matchVariable: 'RequestUri'[\s\S]*'\/auth\/login'[\s\S]*'\/auth\/token'/);
    expect(rules).toMatch(/action: 'Block'/);
    const security = readFileSync(join(INFRA_DIR, '..', 'SECURITY.md'), 'utf8');
    expect(security).toMatch(/Threshold: 30 requests per 1 minute/);
    expect(file('modules/front-door.bicep').source).toMatch(/param signInRequestsPerMinute int = 30/);
  });

  test('the WAF policy is attached to the custom domain', () => {
    const policy = resourceOf('modules/front-door.bicep', 'Microsoft.Cdn/profiles/securityPolicies');
    const parameters = getProperty(policy.body, 'properties', 'parameters');
    expect(stringValue(getProperty(parameters, 'type'))).toBe('WebApplicationFirewall');
    expect(text(getProperty(parameters, 'wafPolicy'))).toContain('wafPolicy.id');
    expect(text(getProperty(parameters, 'associations'))).toContain('customDomain.id');
  });

  test('outputs the profile id (X-Azure-FDID) and both DNS records', () => {
    const source = file('modules/front-door.bicep').source;
    expect(source).toMatch(/output frontDoorId string = profile\.properties\.frontDoorId/);
    expect(source).toMatch(/output endpointHostName string = endpoint\.properties\.hostName/);
    expect(source).toMatch(
      /output customDomainValidationToken string = customDomain\.properties\.validationProperties\.validationToken/,
    );
  });
});

describe('main.bicep and the Function App with publicHostName', () => {
  test('Front Door is deployed only with publicHostName, its origin the app default host', () => {
    const frontDoor = modules(file('main.bicep')).find((m) => m.type === 'modules/front-door.bicep');
    expect(frontDoor).toBeDefined();
    expect(frontDoor!.node.text).toMatch(/= if \(!empty\(validatedPublicHostName\)\)/);
    expect(text(getProperty(frontDoor!.body, 'params', 'originHostName'))).toBe('functionAppHostName');
  });

  test("AUTH_REDIRECT_URI (and so the reply URL and the cookie's host) is on publicHostName when set", () => {
    const main = file('main.bicep').source;
    expect(main).toMatch(
      /var publicHost = empty\(validatedPublicHostName\) \? functionAppHostName : validatedPublicHostName/,
    );
    expect(main).toMatch(/var redirectUri = 'https:\/\/\$\{publicHost\}\/auth\/callback'/);
    const registration = modules(file('main.bicep')).find((m) => m.type === 'modules/app-registration.bicep');
    // The registration takes the callback and the post-logout target (both on the public host: redirectUri, postLogoutRedirectTarget).
    expect(text(getProperty(registration!.body, 'params', 'redirectUris'))).toBe(
      'union([redirectUri], [postLogoutRedirectTarget])',
    );
    expect(main).toMatch(
      /var postLogoutRedirectTarget = startsWith\(postLogoutRedirectUri, '\/'\)\n {2}\? 'https:\/\/\$\{publicHost\}\$\{postLogoutRedirectUri\}'/,
    );
    const api = modules(file('main.bicep')).find((m) => m.type === 'modules/function-app.bicep');
    expect(text(getProperty(api!.body, 'params', 'redirectUri'))).toBe('redirectUri');
    expect(text(getProperty(api!.body, 'params', 'frontDoorId'))).toMatch(/frontDoor\.outputs\.frontDoorId/);
  });

  test('the app is locked to this Front Door: AzureFrontDoor.Backend service tag plus X-Azure-FDID, default deny', () => {
    const site = resourceOf('modules/function-app.bicep', 'Microsoft.Web/sites');
    const restrictions = text(getProperty(site.body, 'properties', 'siteConfig', 'ipSecurityRestrictions'));
    expect(restrictions).toMatch(/tag: 'ServiceTag'/);
    expect(restrictions).toMatch(/ipAddress: 'AzureFrontDoor\.Backend'/);
    expect(restrictions).toMatch(/'x-azure-fdid': \[\s*frontDoorId\s*\]/);
    expect(restrictions).toMatch(/action: 'Allow'/);
    expect(text(getProperty(site.body, 'properties', 'siteConfig', 'ipSecurityRestrictionsDefaultAction'))).toBe(
      "empty(frontDoorId) ? 'Allow' : 'Deny'",
    );
  });

  test('platform CORS: the cookie origins, plus the token-flow SPA origins once the list is not empty', () => {
    const site = resourceOf('modules/function-app.bicep', 'Microsoft.Web/sites');
    expect(text(getProperty(site.body, 'properties', 'siteConfig', 'cors', 'allowedOrigins'))).toBe(
      'platformCorsOrigins',
    );
    expect(file('modules/function-app.bicep').source).toMatch(
      /var platformCorsOrigins = empty\(allowedOrigins\) \? \[\] : union\(allowedOrigins, nativeWebOrigins\)/,
    );
  });
});
