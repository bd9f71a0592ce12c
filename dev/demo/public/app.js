// The demo site's only script: how a static site on its own origin uses the sign-in service.
// - sign in: a top-level navigation to /auth/login with an absolute returnTo on this (allowed) origin;
// - /auth/me, /auth/refresh, /auth/logout, /auth/sessions: fetch with credentials: 'include' (CORS with credentials);
//   the state-changing ones carry X-CSRF: 1, which also forces a CORS preflight only allowed origins pass.
// Server data is only ever put into the page with textContent.
'use strict';

const api = document.querySelector('meta[name="functions-url"]').content;
const $ = (id) => document.getElementById(id);

const AUTH_ERRORS = {
  access_denied: 'You cancelled the sign-in, so you are still signed out.',
  login_required: 'You need to sign in.',
  consent_required: 'The app needs your consent before you can sign in.',
  interaction_required: 'The sign-in page needs you to do something more.',
  temporarily_unavailable: 'The sign-in service is temporarily unavailable. Try again in a moment.',
  server_error: 'The identity provider had a problem. Try again in a moment.',
};

function show(section) {
  for (const id of ['loading', 'signed-out', 'signed-in']) $(id).hidden = id !== section;
}

function banner(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

/** `auth_error` in the query (the callback sends provider errors back this way): show it once, then drop it. */
function takeAuthError() {
  const url = new URL(location.href);
  const code = url.searchParams.get('auth_error');
  if (code === null) return;
  url.searchParams.delete('auth_error');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
  const known = /^[a-z_]{1,64}$/.test(code) ? code : 'unknown_error';
  banner('auth-error', `${AUTH_ERRORS[known] ?? 'Sign-in did not complete.'} (${known})`);
}

/** A problem+json body's stable code, or the HTTP status. */
async function problemOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body.code === 'string') return `${body.code} (HTTP ${response.status})`;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status}`;
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function renderUser(body) {
  const user = body.user ?? {};
  $('user-name').textContent = user.name || user.username || 'there';
  const list = $('user-claims');
  list.replaceChildren();
  for (const key of ['name', 'username', 'email', 'id', 'tenantId', 'issuer']) {
    if (user[key] === undefined || user[key] === null || user[key] === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = key;
    const dd = document.createElement('dd');
    dd.textContent = String(user[key]);
    list.append(dt, dd);
  }
  $('session-expires').textContent = formatTime(body.expiresAt);
  $('me-json').textContent = JSON.stringify(body, null, 2);
}

async function loadSession() {
  show('loading');
  let response;
  try {
    response = await fetch(`${api}/auth/me`, { credentials: 'include', cache: 'no-store' });
  } catch {
    show('signed-out');
    banner('notice', `The sign-in service at ${api} is not reachable. Is npm start still running?`);
    return;
  }
  if (response.status === 401) {
    show('signed-out');
    return;
  }
  if (!response.ok) {
    show('signed-out');
    banner('notice', `GET /auth/me failed: ${await problemOf(response)}`);
    return;
  }
  renderUser(await response.json());
  show('signed-in');
  void loadDevices();
}

/** GET /auth/sessions: one line per browser or app signed in as this user, each with its own Sign out. */
async function loadDevices() {
  const list = $('sessions');
  let response;
  try {
    response = await fetch(`${api}/auth/sessions`, { credentials: 'include', cache: 'no-store' });
  } catch {
    return;
  }
  if (!response.ok) {
    banner('notice', `GET /auth/sessions failed: ${await problemOf(response)}`);
    return;
  }
  const { sessions } = await response.json();
  list.replaceChildren();
  for (const session of sessions) {
    const item = document.createElement('li');
    const about = document.createElement('div');
    const agent = document.createElement('div');
    agent.className = 'agent';
    agent.textContent = session.userAgent || (session.kind === 'native' ? 'An app' : 'A browser');
    if (session.current) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'this browser';
      agent.append(tag);
    }
    const when = document.createElement('div');
    when.className = 'muted';
    when.textContent = `${session.kind === 'native' ? 'app' : 'browser'} · signed in ${formatTime(session.createdAt)} · last seen ${formatTime(session.lastSeenAt)}`;
    about.append(agent, when);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button';
    button.textContent = 'Sign out';
    button.addEventListener('click', () => endDevice(session, button));
    item.append(about, button);
    list.append(item);
  }
}

/** DELETE /auth/sessions/{id}: ends that device's session (this browser's own too: then the page is signed out). */
async function endDevice(session, button) {
  button.disabled = true;
  try {
    const response = await fetch(`${api}/auth/sessions/${encodeURIComponent(session.id)}`, {
      method: 'DELETE',
      credentials: 'include',
      headers: { 'X-CSRF': '1' },
    });
    if (!response.ok && response.status !== 404) {
      banner('notice', `DELETE /auth/sessions failed: ${await problemOf(response)}`);
      return;
    }
    if (session.current) await loadSession();
    else await loadDevices();
  } catch {
    banner('notice', `The sign-in service at ${api} is not reachable.`);
  } finally {
    button.disabled = false;
  }
}

async function getAccessToken() {
  const button = $('get-token');
  button.disabled = true;
  banner('notice', '');
  try {
    const response = await fetch(`${api}/auth/refresh`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'X-CSRF': '1' },
    });
    if (response.status === 401) {
      banner('notice', 'Your session has ended. Sign in again.');
      show('signed-out');
      return;
    }
    if (!response.ok) {
      banner('notice', `POST /auth/refresh failed: ${await problemOf(response)}`);
      return;
    }
    const token = await response.json();
    const value = String(token.access_token ?? '');
    // Enough to see that it is a JWT; the page never needs the whole token on screen.
    $('token-value').textContent = `${value.slice(0, 24)}… (${value.length} characters)`;
    $('token-type').textContent = String(token.token_type ?? '');
    $('token-scope').textContent = String(token.scope ?? '');
    const seconds = Number(token.expires_in);
    const at = new Date(Date.now() + seconds * 1000);
    $('token-expires').textContent = `in ${Math.round(seconds / 60)} min (${at.toLocaleTimeString()})`;
    $('token').hidden = false;
  } catch {
    banner('notice', `The sign-in service at ${api} is not reachable.`);
  } finally {
    button.disabled = false;
  }
}

/** POST /auth/logout; with `everywhere`, JSON `{ "everywhere": true }` ends every session of the user. */
async function signOut(everywhere) {
  const button = $(everywhere ? 'signout-everywhere' : 'signout');
  button.disabled = true;
  try {
    const response = await fetch(`${api}/auth/logout`, {
      method: 'POST',
      credentials: 'include',
      headers: everywhere ? { 'X-CSRF': '1', 'Content-Type': 'application/json' } : { 'X-CSRF': '1' },
      body: everywhere ? JSON.stringify({ everywhere: true }) : undefined,
    });
    if (!response.ok) {
      banner('notice', `POST /auth/logout failed: ${await problemOf(response)}`);
      return;
    }
    const { logoutUrl } = await response.json();
    // The session is gone already; the provider's end-session page brings the user back here.
    location.assign(logoutUrl);
  } catch {
    banner('notice', `The sign-in service at ${api} is not reachable.`);
  } finally {
    button.disabled = false;
  }
}

function init() {
  // The service allows exactly this site's localhost origin, and cookies need the same site: localhost:3000 and
  // localhost:7071 are one site, 127.0.0.1:3000 is another. Send the user to the address that works.
  const apiHost = new URL(api).hostname;
  if (location.hostname !== apiHost && ['127.0.0.1', '[::1]', 'localhost'].includes(location.hostname)) {
    location.replace(`${location.protocol}//${apiHost}:${location.port}${location.pathname}${location.search}`);
    return;
  }
  $('page-origin').textContent = location.origin;
  $('service-origin').textContent = api;
  $('page-cookies').textContent = JSON.stringify(document.cookie);
  $('signin').href = `${api}/auth/login?returnTo=${encodeURIComponent(`${location.origin}/`)}`;
  $('get-token').addEventListener('click', getAccessToken);
  $('signout').addEventListener('click', () => signOut(false));
  $('signout-everywhere').addEventListener('click', () => signOut(true));
  takeAuthError();
  void loadSession();
}

init();
