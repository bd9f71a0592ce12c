/**
 * A simulated native app, doing what AppAuth does on iOS and Android: its own PKCE pair and state, the
 * authorization request opened in a (cookie-keeping) browser, the redirect to its registered URI captured, and
 * form-encoded calls to the token endpoint. Every secret it sees is registered with the harness for log checks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { NATIVE_REDIRECT_URIS, type Harness, type Response, type TestBrowser } from './harness';

export class NativeApp {
  readonly verifier = randomBytes(32).toString('base64url');
  readonly challenge = createHash('sha256').update(this.verifier).digest('base64url');
  readonly state = randomBytes(16).toString('base64url');
  readonly browser: TestBrowser;

  constructor(
    private readonly h: Harness,
    readonly redirectUri: string = NATIVE_REDIRECT_URIS[0],
  ) {
    this.browser = h.newBrowser();
    for (const secret of [this.verifier, this.state]) h.seenSecrets.add(secret);
  }

  /** The app's authorization request; `overrides` replace or (with undefined) remove parameters. */
  authorizeQuery(overrides: Record<string, string | undefined> = {}): string {
    const params: Record<string, string | undefined> = {
      client_id: 'contoso-ios',
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: 'openid offline_access',
      code_challenge: this.challenge,
      code_challenge_method: 'S256',
      state: this.state,
      ...overrides,
    };
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
    return query.toString();
  }

  /** login → the user signs in at the provider → callback; the callback's response (a redirect to the app). */
  async signIn(opts: { cancel?: boolean; query?: string } = {}): Promise<Response> {
    const { response, authorizeUrl } = await this.browser.startSignIn(opts.query ?? this.authorizeQuery());
    if (response.status !== 200 || !authorizeUrl.startsWith(this.h.standIn.frontChannelUrl)) {
      throw new Error(`login did not go to the provider: ${response.status} ${authorizeUrl}`);
    }
    const callbackUrl = await this.browser.signInAtProvider(authorizeUrl, undefined, opts);
    return this.browser.callback(callbackUrl);
  }

  /** The redirect to the app, parsed; the handoff code is remembered as a secret. */
  captureRedirect(response: Response): URL {
    const location = response.headers.location ?? '';
    const url = new URL(location);
    const code = url.searchParams.get('code');
    if (code) this.h.seenSecrets.add(code);
    return url;
  }

  /** The whole sign-in; returns the handoff code. */
  async signInForCode(): Promise<string> {
    const url = this.captureRedirect(await this.signIn());
    const code = url.searchParams.get('code');
    if (!code) throw new Error(`no code in the app redirect (error ${url.searchParams.get('error')})`);
    return code;
  }

  async token(params: Record<string, string | undefined>, headers: Record<string, string> = {}): Promise<Response> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined) body.append(name, value);
    const response = await this.h.call('token', {
      method: 'POST',
      url: '/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: body.toString(),
    });
    if (response.status === 200) {
      const json = response.json() as { access_token?: string; refresh_token?: string };
      for (const secret of [json.access_token, json.refresh_token]) if (secret) this.h.seenSecrets.add(secret);
    }
    return response;
  }

  redeem(code: string, overrides: Record<string, string | undefined> = {}): Promise<Response> {
    return this.token({
      grant_type: 'authorization_code',
      code,
      code_verifier: this.verifier,
      redirect_uri: this.redirectUri,
      client_id: 'contoso-ios',
      ...overrides,
    });
  }

  refresh(refreshToken: string, scope?: string): Promise<Response> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken, scope });
  }

  /** The whole sign-in and redemption; returns the token response body. */
  async signInForTokens(): Promise<{
    access_token: string;
    refresh_token: string;
    expires_in: number;
    token_type: string;
    scope: string;
  }> {
    const response = await this.redeem(await this.signInForCode());
    if (response.status !== 200) throw new Error(`redemption failed: ${response.status} ${response.body}`);
    return response.json();
  }

  /** A call with the session token as `Authorization: Bearer`. */
  bearer(name: 'me' | 'refresh' | 'logout', token: string): Promise<Response> {
    const method = name === 'me' ? 'GET' : 'POST';
    return this.h.call(name, { method, url: `/auth/${name}`, headers: { authorization: `Bearer ${token}` } });
  }
}
