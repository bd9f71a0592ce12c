/**
 * Raw OAuth requests against the Entra stand-in, for tests that check what Entra answers at each step (not what a
 * client library makes of it): a PKCE pair, an authorize URL, a sign-in through the stand-in's page, and a token
 * request whose JSON error body is returned as is.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EntraStandIn } from '../../dev/entra-standin';

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkcePair(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorize URL under `authority` (default: the stand-in's), with PKCE S256 and the given parameters. */
export function authorizeUrlFor(
  standIn: EntraStandIn,
  params: Record<string, string>,
  authority = standIn.authority,
): string {
  const frontAuthority = authority.replace(standIn.url, standIn.frontChannelUrl);
  const url = new URL(`${frontAuthority}/oauth2/v2.0/authorize`);
  for (const [name, value] of Object.entries({ response_type: 'code', response_mode: 'query', ...params }))
    url.searchParams.set(name, value);
  return url.href;
}

/** Signs `username` in at the stand-in and returns the authorization code (throws when the redirect has none). */
export async function codeFor(standIn: EntraStandIn, authorizeUrl: string, username: string): Promise<string> {
  const location = new URL(await standIn.signIn(authorizeUrl, username));
  const code = location.searchParams.get('code');
  if (!code)
    throw new Error(`no code: ${location.searchParams.get('error')} ${location.searchParams.get('error_description')}`);
  return code;
}

export interface TokenAnswer {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}

/** POSTs a form to the token endpoint (of `authority`, default the stand-in's) and returns status and JSON body. */
export async function tokenRequest(
  standIn: EntraStandIn,
  form: Record<string, string>,
  options: { authority?: string; headers?: Record<string, string> } = {},
): Promise<TokenAnswer> {
  const response = await fetch(`${options.authority ?? standIn.authority}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}
