// The peer for bench step (q): a small Express site signing users in with express-openid-connect, the library a team
// would otherwise reach for (https://github.com/auth0/express-openid-connect), configured to do comparable work:
// authorization code flow with PKCE (S256, the library's default for response_type=code), a client secret
// (client_secret_basic, its default), the response in the query of a GET callback, no IdP logout.
//   PEER_SESSION=cookie  the library's default session: the token set sealed into a cookie (JWE dir/A256GCM, key by
//                        HKDF from `secret`); nothing is kept on the server.
//   PEER_SESSION=memory  its documented custom `session.store` (express-session compatible get/set/destroy) backed
//                        by a Map in this process, entries JSON-serialized as express-session's MemoryStore keeps them;
//                        the cookie then carries only a signed session id.
// Configuration: PEER_ISSUER (issuerBaseURL), PEER_BASE_URL, PEER_CLIENT_ID, PEER_CLIENT_SECRET, PEER_SECRET,
// PEER_SCOPE; routes PEER_LOGIN_PATH / PEER_CALLBACK_PATH (so the redirect URI is baseURL + callback path).
// Speaks the bench protocol (bench/launch-host.ts): prints `@@READY {"url":...}`; stdin "usage" →
// `@@USAGE {cpu, heap}` (after global.gc when run with --expose-gc), "sessions" → `@@SESSIONS n`, "stop" → exit.
import { speakBenchProtocol } from './child-protocol.mjs';
import express from 'express';
import { auth } from 'express-openid-connect';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`peer-server: ${name} is not set`);
  return value;
};

/** An express-session compatible store in this process (what `session.store` documents; no expiry sweep). */
class MapStore {
  sessions = new Map();
  get(id, callback) {
    const raw = this.sessions.get(id);
    callback(null, raw === undefined ? undefined : JSON.parse(raw));
  }
  set(id, data, callback) {
    this.sessions.set(id, JSON.stringify(data));
    callback(null);
  }
  destroy(id, callback) {
    this.sessions.delete(id);
    callback(null);
  }
}

const mode = process.env.PEER_SESSION ?? 'cookie';
if (mode !== 'cookie' && mode !== 'memory') throw new Error(`peer-server: PEER_SESSION=${mode}`);
const store = mode === 'memory' ? new MapStore() : undefined;

const app = express();
app.use(
  auth({
    issuerBaseURL: env('PEER_ISSUER'),
    baseURL: env('PEER_BASE_URL'),
    clientID: env('PEER_CLIENT_ID'),
    clientSecret: env('PEER_CLIENT_SECRET'),
    secret: env('PEER_SECRET'),
    authRequired: false,
    idpLogout: false,
    authorizationParams: {
      response_type: 'code',
      response_mode: 'query',
      scope: process.env.PEER_SCOPE ?? 'openid profile email',
    },
    routes: {
      login: process.env.PEER_LOGIN_PATH ?? '/login',
      callback: process.env.PEER_CALLBACK_PATH ?? '/callback',
      logout: '/logout',
    },
    ...(store ? { session: { store, signSessionStoreCookie: true } } : {}),
  }),
);
app.get('/me', (req, res) => {
  if (!req.oidc.isAuthenticated()) return res.status(401).json({ error: 'not_signed_in' });
  res.json({ user: { sub: req.oidc.user.sub, name: req.oidc.user.name } });
});

const server = app.listen(0, '127.0.0.1', () =>
  speakBenchProtocol(
    { url: `http://127.0.0.1:${server.address().port}` },
    {
      stop: () => new Promise((resolve) => (server.close(resolve), server.closeAllConnections())),
      commands: { sessions: () => (store ? store.sessions.size : 0) },
    },
  ),
);
server.keepAliveTimeout = 5000;
