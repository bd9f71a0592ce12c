// The single-page app on another site: the token flow the mobile apps use, from a browser, with no cookies.
// - sign in: PKCE (S256) + state made here; the verifier waits in sessionStorage across the sign-in redirect
//   (this tab only, removed on return); the service sends the browser back here with a one-time handoff code;
// - POST /auth/token redeems it for an access token and a backend session token (`refresh_token`), which is kept
//   in this script's memory only: never in storage, never in a cookie; a reload forgets it;
// - /auth/me and /auth/refresh with `Authorization: Bearer <session token>`; POST /auth/token with
//   grant_type=refresh_token rotates it; POST /auth/logout with the Bearer ends the session.
// CORS: the service allows exactly this origin (its redirect URI is in AUTH_NATIVE_REDIRECT_URIS), without credentials.
/* global btoa */
'use strict';

const api = document.querySelector('meta[name="functions-url"]').content;
const redirectUri = document.querySelector('meta[name="redirect-uri"]').content;
const $ = (id) => document.getElementById(id);
const PENDING = 'signin.pending';

let sessionToken; // memory only
let rotations = 0;

function show(section) {
  for (const id of ['loading', 'signed-out', 'signed-in']) $(id).hidden = id !== section;
}
function banner(text) {
  $('auth-error').textContent = text;
  $('auth-error').hidden = !text;
}
function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}
function randomValue() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}
async function problemOf(response) {
  try {
    const body = await response.json();
    const code = body.code ?? body.error;
    if (typeof code === 'string') return `${code} (HTTP ${response.status})`;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status}`;
}
function preview(token) {
  return `…${token.slice(-6)} (${token.length} characters)`;
}

async function signIn() {
  const verifier = randomValue();
  const state = randomValue();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const url = new URL('/auth/login', api);
  url.search = new URLSearchParams({
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  }).toString();
  location.assign(url.href);
}

async function tokenRequest(form) {
  const response = await fetch(`${api}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams(form),
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(await problemOf(response));
  const body = await response.json();
  sessionToken = body.refresh_token;
  $('session-token').textContent = preview(sessionToken);
  return body;
}

/** Back from sign-in with ?code&state (or ?error): check the state, redeem the code once, clean the address bar. */
async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', location.pathname);
  if (params.has('error')) throw new Error(`sign-in did not complete (${params.get('error')})`);
  if (!pending || params.get('state') !== pending.state)
    throw new Error('this sign-in was not started in this tab (state)');
  await tokenRequest({
    grant_type: 'authorization_code',
    code: params.get('code'),
    code_verifier: pending.verifier,
    redirect_uri: redirectUri,
  });
}

async function loadUser() {
  const response = await fetch(`${api}/auth/me`, {
    headers: { Authorization: `Bearer ${sessionToken}` },
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(await problemOf(response));
  const body = await response.json();
  $('user-name').textContent = body.user?.name || body.user?.username || 'there';
  $('me-json').textContent = JSON.stringify(body, null, 2);
  show('signed-in');
}

async function getAccessToken() {
  const response = await fetch(`${api}/auth/refresh`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${sessionToken}` },
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(await problemOf(response));
  const body = await response.json();
  $('token-value').textContent = preview(body.access_token);
  $('token-type').textContent = body.token_type;
  $('token-scope').textContent = body.scope;
  $('token').hidden = false;
}

async function rotate() {
  await tokenRequest({ grant_type: 'refresh_token', refresh_token: sessionToken });
  $('rotations').textContent = String(++rotations);
  await loadUser();
}

async function signOut() {
  const response = await fetch(`${api}/auth/logout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${sessionToken}` },
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(await problemOf(response));
  sessionToken = undefined;
  show('signed-out');
}

function guarded(action) {
  return async (event) => {
    event?.preventDefault();
    banner('');
    try {
      await action();
    } catch (error) {
      banner(String(error.message ?? error));
    }
  };
}

$('page-origin').textContent = location.origin;
$('service-origin').textContent = api;
$('signin').addEventListener('click', guarded(signIn));
$('get-token').addEventListener('click', guarded(getAccessToken));
$('rotate').addEventListener('click', guarded(rotate));
$('signout').addEventListener('click', guarded(signOut));

const params = new URLSearchParams(location.search);
if (params.has('code') || params.has('error')) {
  show('loading');
  guarded(async () => {
    try {
      await finishSignIn(params);
      await loadUser();
    } catch (error) {
      show('signed-out');
      throw error;
    }
  })();
}
