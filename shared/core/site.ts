/**
 * Sites, as browsers decide them for `SameSite` cookies: the scheme plus the registrable domain of the host
 * (schemeful same-site). The registrable domain comes from the Public Suffix List, private section included
 * (`azurewebsites.net`, `azurestaticapps.net` and `github.io` are there), through `tldts`, which ships the list
 * compiled in: no network, no hand-made list. A host without a registrable domain (`localhost`, an IP literal)
 * is its own site. Ports never matter.
 * @see https://html.spec.whatwg.org/multipage/browsers.html#obtain-a-site
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#name-same-site-and-cross-site-requests
 * @see https://publicsuffix.org/
 */
type Tldts = typeof import('tldts');
let tldts: Tldts | undefined;
/**
 * Loaded on first use (only a configuration with AUTH_ALLOWED_RETURN_ORIGINS on another host asks): its list is
 * ~140 KB of code, bundled apart from main.js (scripts/build.mjs).
 */
function registrableDomain(host: string): string | null {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy loading keeps cold starts small
  tldts ??= require('tldts') as Tldts;
  return tldts.getDomain(host, { allowPrivateDomains: true });
}

/** The site of an absolute http(s) URL or origin, e.g. `https://contoso.com` for `https://auth.contoso.com:8443`. */
export function siteOf(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const host = parsed.hostname.toLowerCase();
  const registrable = isIpLiteral(host) ? null : registrableDomain(host);
  return `${parsed.protocol}//${registrable ?? host}`;
}

/** True when a `SameSite=Lax` cookie set by `a` goes with requests from a page on `b` (and the reverse). */
export function isSameSite(a: string | URL, b: string | URL): boolean {
  const [left, right] = [a, b].map((url) => (typeof url === 'string' ? new URL(url) : url)) as [URL, URL];
  // One host is one site: no list needed (and none loaded) for the one-origin topology.
  if (left.protocol === right.protocol && left.hostname.toLowerCase() === right.hostname.toLowerCase()) return true;
  return siteOf(left) === siteOf(right);
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host);
}
