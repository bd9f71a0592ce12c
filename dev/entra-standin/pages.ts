/**
 * The stand-in's browser-facing HTML: the sign-in page, the "can't sign you in" error page and the signed-out
 * page. Self-contained (inline CSS, no scripts, no external resources) so the page works offline, passes a
 * strict CSP, and can be screenshotted. Every interpolated value goes through `escapeHtml`.
 */

export interface PageUser {
  username: string;
  name: string;
}

export interface SignInPageModel {
  /** Where the forms post: the authorize path itself (no query; the parameters ride in hidden fields). */
  action: string;
  appName: string;
  tenantId: string;
  protocol: 'entra' | 'oidc';
  /** The authorize request's parameters, carried through the form post unchanged. */
  hidden: ReadonlyArray<readonly [string, string]>;
  users: readonly PageUser[];
  scopes: readonly string[];
  username: string;
  error?: string;
  demoPassword?: string;
}

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Reverses `escapeHtml` (and the few named entities), for `signIn()` reading hidden fields back. */
export function unescapeHtml(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Header value for every page: nothing may load or run, and no one may frame the page (click-jacking). */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'";

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Sign you in',
  profile: 'View your basic profile (name, username)',
  email: 'View your email address',
  offline_access: 'Maintain access to data you have given it access to',
  'User.Read': 'Sign you in and read your profile',
};

function describeScope(scope: string): string {
  const short = scope.replace(/^https:\/\/graph\.microsoft\.com\//, '');
  return SCOPE_DESCRIPTIONS[short] ?? `Access ${scope}`;
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0]!.toUpperCase())
    .join('');
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f2f2f2;
font-family:"Segoe UI",-apple-system,BlinkMacSystemFont,Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1b1b}
main{width:440px;max-width:calc(100vw - 24px);background:#fff;box-shadow:0 2px 6px rgba(0,0,0,.2);padding:44px}
.brand{display:flex;align-items:center;gap:10px;font-size:15px;color:#5e5e5e;margin-bottom:16px}
.logo{display:grid;grid-template-columns:10px 10px;gap:2px}
.logo span{width:10px;height:10px;display:block}
h1{font-size:24px;font-weight:600;margin:0 0 4px}
.sub{margin:0 0 20px;color:#3b3b3b;font-size:15px}
.users{list-style:none;margin:0 0 16px;padding:0;border-top:1px solid #e5e5e5}
.users li{border-bottom:1px solid #e5e5e5}
.users button{all:unset;box-sizing:border-box;width:100%;display:flex;align-items:center;gap:12px;padding:10px 8px;cursor:pointer}
.users button:hover,.users button:focus-visible{background:#f3f3f3;outline:none}
.avatar{width:36px;height:36px;border-radius:50%;background:#0067b8;color:#fff;display:flex;align-items:center;
justify-content:center;font-size:14px;font-weight:600;flex:none}
.who{display:flex;flex-direction:column;font-size:15px}.who small{color:#5e5e5e;font-size:13px}
label{display:block;font-size:13px;color:#3b3b3b;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;font:inherit;font-size:15px;padding:6px 0;border:0;
border-bottom:1px solid #666;outline:none}
input:focus{border-bottom:2px solid #0067b8}
.error{color:#e81123;font-size:14px;margin:12px 0 0}
.consent{margin:20px 0 0;padding:12px 14px;background:#f7f7f7;border-left:3px solid #0067b8;font-size:14px}
.consent p{margin:0 0 6px;font-weight:600}.consent ul{margin:0;padding-left:18px}.consent code{font-size:12px;color:#5e5e5e}
.actions{display:flex;flex-direction:row-reverse;gap:8px;margin-top:24px}
.actions button{font:inherit;font-size:15px;min-width:108px;padding:6px 12px;border:1px solid transparent;cursor:pointer}
.primary{background:#0067b8;color:#fff}.primary:hover{background:#005da6}
.secondary{background:#ccc;color:#000}.secondary:hover{background:#bbb}
.note{margin:24px 0 0;font-size:12px;color:#707070;line-height:1.5}
.code{font-family:Consolas,Menlo,monospace;font-size:13px;background:#f7f7f7;padding:10px;white-space:pre-wrap;word-break:break-all}
`;

const LOGO =
  '<span class="logo" aria-hidden="true"><span style="background:#f25022"></span><span style="background:#7fba00"></span>' +
  '<span style="background:#00a4ef"></span><span style="background:#ffb900"></span></span>';

function layout(title: string, body: string): string {
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="referrer" content="no-referrer">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main></body></html>\n`
  );
}

function brand(protocol: 'entra' | 'oidc'): string {
  const label = protocol === 'entra' ? 'Microsoft Entra ID · local stand-in' : 'OpenID Provider · local stand-in';
  return `<div class="brand">${LOGO}<span>${escapeHtml(label)}</span></div>`;
}

function hiddenFields(hidden: SignInPageModel['hidden']): string {
  return hidden
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
}

export function renderSignInPage(model: SignInPageModel): string {
  const hidden = hiddenFields(model.hidden);
  const picker = model.users.length
    ? `<form method="post" action="${escapeHtml(model.action)}" aria-label="Pick an account">${hidden}` +
      '<input type="hidden" name="action" value="pick"><ul class="users">' +
      model.users
        .map(
          (u) =>
            `<li><button type="submit" name="select_user" value="${escapeHtml(u.username)}" data-username="${escapeHtml(u.username)}">` +
            `<span class="avatar">${escapeHtml(initials(u.name))}</span>` +
            `<span class="who"><span>${escapeHtml(u.name)}</span><small>${escapeHtml(u.username)}</small></span></button></li>`,
        )
        .join('') +
      '</ul></form>'
    : '';
  const error = model.error ? `<p class="error" id="error" role="alert">${escapeHtml(model.error)}</p>` : '';
  const consent = model.scopes.length
    ? `<section class="consent" aria-label="Permissions requested"><p>${escapeHtml(model.appName)} would like to:</p><ul>` +
      model.scopes.map((s) => `<li>${escapeHtml(describeScope(s))} <code>${escapeHtml(s)}</code></li>`).join('') +
      '</ul></section>'
    : '';
  const demo = model.demoPassword
    ? `<p class="note">Local development only. Demo accounts use the password <strong>${escapeHtml(model.demoPassword)}</strong>. ` +
      `Tenant ${escapeHtml(model.tenantId)}.</p>`
    : `<p class="note">Local development only. Tenant ${escapeHtml(model.tenantId)}.</p>`;
  // "Sign in" comes first in the DOM so Enter submits it (the form's default button); CSS puts Cancel left.
  const form =
    `<form method="post" action="${escapeHtml(model.action)}" id="signin-form">${hidden}` +
    `<label for="username">Email or username</label>` +
    `<input type="text" id="username" name="username" autocomplete="username" autocapitalize="off" spellcheck="false" required value="${escapeHtml(model.username)}"${model.username ? '' : ' autofocus'}>` +
    `<label for="password">Password</label>` +
    `<input type="password" id="password" name="password" autocomplete="current-password" required${model.username ? ' autofocus' : ''}>` +
    error +
    consent +
    '<div class="actions"><button type="submit" class="primary" id="signin" name="action" value="signin">Sign in</button>' +
    '<button type="submit" class="secondary" id="cancel" name="action" value="cancel" formnovalidate>Cancel</button></div></form>';
  return layout(
    'Sign in to your account',
    `${brand(model.protocol)}<h1>Sign in</h1><p class="sub">to continue to <strong>${escapeHtml(model.appName)}</strong></p>` +
      `${picker}${form}${demo}`,
  );
}

export interface ErrorPageModel {
  protocol: 'entra' | 'oidc';
  /** e.g. "AADSTS50011: The redirect URI ... does not match ..." */
  message: string;
  traceId: string;
  correlationId: string;
  timestamp: string;
}

export function renderErrorPage(model: ErrorPageModel): string {
  return layout(
    'Sign in to your account',
    `${brand(model.protocol)}<h1>Sorry, but we’re having trouble signing you in.</h1>` +
      `<p class="sub" id="error" role="alert">${escapeHtml(model.message)}</p>` +
      `<div class="code">Request Id: ${escapeHtml(model.traceId)}\nCorrelation Id: ${escapeHtml(model.correlationId)}\n` +
      `Timestamp: ${escapeHtml(model.timestamp)}</div>`,
  );
}

export function renderSignedOutPage(protocol: 'entra' | 'oidc'): string {
  return layout(
    'Sign out',
    `${brand(protocol)}<h1>You signed out of your account</h1>` +
      '<p class="sub">It’s a good idea to close all browser windows.</p>',
  );
}
