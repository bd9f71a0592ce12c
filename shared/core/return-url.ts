/**
 * Redirect targets (`returnTo`, `post_logout_redirect_uri`): a same-site relative path, or an absolute URL on an
 * exactly allowed origin. Rejected, never rewritten: a rewritten attack URL is still an attacker's URL.
 *
 * The classic open-redirect bypasses are what this guards: `//evil`, `/\evil`, `https:evil`, `/%2F%2Fevil`,
 * `/%5Cevil`, tab/newline/space variants (browsers strip them: `/\t/evil` is `//evil`), `javascript:`, userinfo
 * (`https://allowed@evil`), dot segments that normalize to `//evil`. The check is on the raw value and on each
 * percent-decoded form, because some front ends and frameworks decode again before they redirect.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
 */
import { AuthError } from '../errors';

/** UTF-16 units, of the raw value and of its serialized (stored) form: the pending row stays under 4 KB. */
const MAX_LENGTH = 2048;
/** Control characters, whitespace (ASCII and Unicode), and backslashes are never legitimate here. */
const FORBIDDEN = /[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2060\u3000\ufeff\\]/;
const SAFE_RELATIVE = /^\/(?![/\\])/;

export interface ReturnUrlPolicy {
  /** This service's own public origin (from AUTH_REDIRECT_URI): relative paths resolve against it. */
  publicOrigin: string;
  allowedOrigins: readonly string[];
}

export function validateReturnUrl(raw: string, policy: ReturnUrlPolicy): string {
  const reject = (): never => {
    throw new AuthError('invalid_return_url');
  };
  if (raw.length === 0 || raw.length > MAX_LENGTH) return reject();
  const forms = decodedForms(raw) ?? reject();
  if (forms.some((form) => FORBIDDEN.test(form))) return reject();

  if (raw.startsWith('/')) {
    if (!forms.every((form) => SAFE_RELATIVE.test(form))) return reject();
    // Belt and braces: whatever a URL parser makes of each form must stay on our own origin, and its normalized
    // path must not start with "//". Dot segments collapse into one (`/x/..//evil`, `/%2e%2e//evil`, `/.//evil`):
    // harmless while resolved against our origin, but a protocol-relative URL to another host as soon as the
    // path is written out on its own (as the callback does when it adds `auth_error`).
    if (!forms.every((form) => staysOnOrigin(form, policy.publicOrigin))) return reject();
    // The WHATWG serialization, which is what a browser would navigate to anyway: the same path, but as
    // percent-encoded ASCII, so it fits in a Location header (Kestrel, which serves Azure Functions, refuses raw
    // non-ASCII header values: a 500 after a sign-in that had worked).
    const resolved = new URL(raw, policy.publicOrigin);
    // The bound holds for what is stored and sent, not only for what came in: serializing turns `{` into `%7B`.
    return withinLength(`${resolved.pathname}${resolved.search}${resolved.hash}`) ?? reject();
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject();
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return reject();
  if (url.username || url.password) return reject();
  // `https:evil.example` parses as https://evil.example/; demanding the "//" keeps what we check what browsers see.
  if (!raw.toLowerCase().startsWith(`${url.protocol}//`)) return reject();
  if (url.origin !== policy.publicOrigin && !policy.allowedOrigins.includes(url.origin)) return reject();
  return withinLength(url.href) ?? reject();
}

function withinLength(serialized: string): string | undefined {
  return serialized.length <= MAX_LENGTH ? serialized : undefined;
}

function staysOnOrigin(path: string, origin: string): boolean {
  try {
    const resolved = new URL(path, origin);
    return resolved.origin === origin && !resolved.pathname.startsWith('//');
  } catch {
    return false;
  }
}

/** The raw value and each percent-decoding of it until it stops changing (double and triple encoding). */
function decodedForms(value: string): string[] | undefined {
  const forms = [value];
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(forms[forms.length - 1]!);
    } catch {
      return undefined;
    }
    if (next === forms[forms.length - 1]) break;
    forms.push(next);
  }
  return forms;
}
