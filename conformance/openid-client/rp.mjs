// A relying party on openid-client, driven by pow-ext-provider's conformance test
// (pow-ext-provider/tests/openid_client.rs and examples/provider/tests/conformance.rs, through
// driver.rs), one JSON object per line on stdout:
//
//   node rp.mjs <issuer> <client_id> <redirect_uri>
//   -> {"authorize": "<the authorization URL>"}          (the test signs in and consents)
//   <- the URL the provider sent the browser back to, as one line on stdin
//   -> {"ok": true, ...what was checked} or {"ok": false, "error": "..."}
//   -> {"logout": "<the end-session URL>"}                (the test confirms the sign-out)
//   <- the URL the provider sent the browser back to
//   -> {"logged_out": true} when it carries the state sent
//
//   node rp.mjs <issuer> <client_id> device
//   -> {"user_code": "...", "verification_uri": "..."}   (the test enters it and allows)
//   -> {"ok": true, ...} once a poll gets the tokens
//
// openid-client reads the discovery document, sends the authorization request with PKCE
// (S256), state and nonce, checks the response's `iss` (RFC 9207), exchanges the code,
// verifies the ID token's signature against the JWKS (non-repudiation checks) and its
// claims, calls userinfo, refreshes, sees the spent refresh token refused and its family
// ended, then sends the browser to the end-session endpoint with its ID token as the hint
// (RP-initiated logout) and checks the state it gets back.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const [issuer, clientId, redirectUri] = process.argv.slice(2);
const deviceMode = redirectUri === 'device';
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function main() {
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  client.enableNonRepudiationChecks(config);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  say({ authorize: url.href });
  const back = (await lines.next()).value;
  const tokens = await client.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  let reuse = 'accepted';
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (err) {
    reuse = err.error ?? err.code ?? String(err);
  }
  let afterReuse = 'accepted';
  try {
    await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  } catch (err) {
    afterReuse = String(err.status ?? err.code ?? err);
  }
  say({
    ok: true,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    email: info.email,
    id_token_alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg,
    refreshed: refreshed.access_token !== tokens.access_token,
    reuse,
    after_reuse: afterReuse,
  });
  const logoutState = client.randomState();
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: new URL('/signed-out', redirectUri).href,
    state: logoutState,
  });
  say({ logout: logout.href });
  const returned = new URL((await lines.next()).value);
  say({ logged_out: returned.searchParams.get('state') === logoutState });
}

// The device authorization grant (RFC 8628): the codes, then polling at the interval the
// provider asks until the user has allowed the request.
async function device() {
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  client.enableNonRepudiationChecks(config);
  const started = await client.initiateDeviceAuthorization(config, { scope: 'openid email' });
  say({ user_code: started.user_code, verification_uri: started.verification_uri, interval: started.interval });
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  say({ ok: true, sub: claims.sub, email: info.email, refresh: tokens.refresh_token !== undefined });
}

(deviceMode ? device() : main()).then(
  () => process.exit(0),
  (err) => {
    say({ ok: false, error: `${err.name}: ${err.message} ${err.code ?? ''} ${err.error ?? ''}` });
    process.exit(1);
  },
);
