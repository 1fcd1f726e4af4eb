// Proves idp.mjs end to end the way a Rust test drives it: plain fetch with manual
// redirects and a small path-aware cookie jar, no browser, no extra packages.
//
//   node selftest.mjs        (exit 0 when every check passes; the HTTP steps are logged)
//
// For RS256 and ES256 it starts idp.mjs, checks that an authorization request without PKCE
// is refused, signs in through the interaction form, exchanges the code with
// client_secret_basic, verifies the ID token (signature against the JWKS, iss, aud, nonce,
// email, email_verified, name), checks a wrong code_verifier is refused, then signs in again
// on the same session (no interaction this time) and exchanges with client_secret_post.
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = fileURLToPath(new URL('.', import.meta.url));
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const log = (line) => process.stderr.write(`  ${line}\n`);

// A browser's cookies for one host: name + path -> value, sent back path-matched.
class Jar {
  #cookies = new Map();

  store(url, response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
      let path = dir;
      let expired = value === '';
      for (const attr of attrs) {
        const [key, val = ''] = attr.split('=');
        const k = key.toLowerCase();
        if (k === 'path' && val.startsWith('/')) path = val;
        if (k === 'max-age' && Number(val) <= 0) expired = true;
        if (k === 'expires' && Date.parse(val) <= Date.now()) expired = true;
        assert.notEqual(k, 'secure', `${name} is Secure on plain http`);
      }
      const key = `${name}\u0000${path}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const p = url.pathname;
    return [...this.#cookies.values()]
      .filter(({ path }) => p === path || (p.startsWith(path) && (path.endsWith('/') || p[path.length] === '/')))
      .sort((a, b) => b.path.length - a.path.length)
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
  }

  names() {
    return [...this.#cookies.values()].map(({ name, path }) => `${name}@${path}`).sort();
  }
}

// One request, redirects not followed; cookies in and out.
async function request(jar, method, url, { body, headers = {} } = {}) {
  url = new URL(url);
  const cookie = jar.header(url);
  const response = await fetch(url, {
    method,
    redirect: 'manual',
    headers: { ...(cookie ? { cookie } : {}), ...headers },
    body,
  });
  jar.store(url, response);
  const location = response.headers.get('location');
  log(`${method} ${url.pathname}${url.search ? '?…' : ''} -> ${response.status}${location ? ` ${location}` : ''}`
    + `${response.headers.getSetCookie().length ? `  set: ${response.headers.getSetCookie().map((c) => c.split('=')[0]).join(', ')}` : ''}`);
  return { response, location: location && new URL(location, url) };
}

function startIdp(config) {
  const child = spawn(process.execPath, [`${here}idp.mjs`, '0', JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return lines.next().then(({ value }) => ({ child, issuer: JSON.parse(value).issuer }));
}

function verifyJwt(jwt, jwks) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  assert.ok(jwk, `no key ${header.kid} in the JWKS`);
  assert.equal(jwk.d, undefined, 'the JWKS publishes a private key');
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), {
    key: createPublicKey({ key: jwk, format: 'jwk' }),
    dsaEncoding: 'ieee-p1363',
  }, Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the ID token signature does not verify');
  return { header, claims: JSON.parse(Buffer.from(p, 'base64url')) };
}

async function run(alg) {
  log(`--- ${alg}`);
  const redirectUri = 'http://127.0.0.1:9/sso/callback';
  const client = { client_id: 'acme-sso', client_secret: randomBytes(16).toString('hex'), redirect_uris: [redirectUri] };
  const account = { id: 'u1', email: 'ada@acme.example', email_verified: true, name: 'Ada' };
  const { child, issuer } = await startIdp({ clients: [client], accounts: [account], sign_with: alg });
  try {
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const jar = new Jar();
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(discovery.issuer, issuer);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(discovery.id_token_signing_alg_values_supported, [alg]);
    const jwks = await (await fetch(discovery.jwks_uri)).json();

    const authorize = (extra) => {
      const url = new URL(discovery.authorization_endpoint);
      for (const [k, v] of Object.entries({
        response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, scope: 'openid email profile', ...extra,
      })) url.searchParams.set(k, v);
      return url;
    };
    const pkce = () => {
      const verifier = b64url(randomBytes(32));
      return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
    };
    const token = (form, auth) => fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
      body: new URLSearchParams(form),
    });
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
    const checkIdToken = (idToken, nonce) => {
      const { header, claims } = verifyJwt(idToken, jwks);
      assert.equal(header.alg, alg);
      assert.equal(claims.iss, issuer);
      assert.equal(claims.aud, client.client_id);
      assert.equal(claims.nonce, nonce);
      assert.equal(claims.sub, account.id);
      assert.equal(claims.email, account.email);
      assert.equal(claims.email_verified, true);
      assert.equal(claims.name, account.name);
      assert.ok(claims.exp > Date.now() / 1000);
      return claims;
    };

    // PKCE is required: no code_challenge, an error back at the redirect_uri.
    {
      const { response, location } = await request(new Jar(), 'GET', authorize({ state: 'x', nonce: 'n' }));
      assert.equal(response.status, 303);
      assert.equal(location.origin + location.pathname, redirectUri);
      assert.equal(location.searchParams.get('error'), 'invalid_request');
      log(`  without PKCE: ${location.searchParams.get('error_description')}`);
    }

    // 1. The authorization request: 303 to the login interaction.
    const state = b64url(randomBytes(12));
    const nonce = b64url(randomBytes(12));
    const { verifier, challenge } = pkce();
    let step = await request(jar, 'GET', authorize({ state, nonce, code_challenge: challenge, code_challenge_method: 'S256' }));
    assert.equal(step.response.status, 303);
    assert.match(step.location.pathname, /^\/interaction\/[\w-]+$/);
    const uid = step.location.pathname.split('/')[2];

    // 2. The login page (a form), then its submission.
    step = await request(jar, 'GET', step.location);
    assert.equal(step.response.status, 200);
    const page = await step.response.text();
    assert.ok(page.includes(`action="/interaction/${uid}/login"`), page);
    step = await request(jar, 'POST', new URL(`/interaction/${uid}/login`, issuer), {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: account.id }),
    });
    assert.equal(step.response.status, 303);
    assert.equal(step.location.href, `${issuer}/auth/${uid}`);

    // 3. The resume: 303 to the redirect_uri with the code, the state and the issuer.
    step = await request(jar, 'GET', step.location);
    assert.equal(step.response.status, 303);
    assert.equal(step.location.origin + step.location.pathname, redirectUri);
    assert.equal(step.location.searchParams.get('state'), state);
    assert.equal(step.location.searchParams.get('iss'), issuer);
    const code = step.location.searchParams.get('code');
    assert.ok(code);
    log(`  cookies kept: ${jar.names().join(' ')}`);

    // A wrong code_verifier is refused (and spends the code).
    {
      const { code: other } = await (async () => {
        const p = pkce();
        const s = await request(jar, 'GET', authorize({ state, nonce, code_challenge: p.challenge, code_challenge_method: 'S256' }));
        return { code: s.location.searchParams.get('code') };
      })();
      const refused = await token({ grant_type: 'authorization_code', code: other, redirect_uri: redirectUri, code_verifier: verifier }, basic);
      assert.equal(refused.status, 400);
      assert.equal((await refused.json()).error, 'invalid_grant');
    }

    // 4. The code at the token endpoint, client_secret_basic.
    let res = await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, basic);
    let body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    const claims = checkIdToken(body.id_token, nonce);
    const info = await (await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${body.access_token}` } })).json();
    assert.equal(info.email, account.email);
    log(`  ID token: ${JSON.stringify(claims)}`);

    // The code is single use.
    res = await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, basic);
    assert.equal(res.status, 400);

    // 5. Signed in already: straight back to the redirect_uri; client_secret_post this time.
    const again = pkce();
    step = await request(jar, 'GET', authorize({ state: 's2', nonce: 'n2', code_challenge: again.challenge, code_challenge_method: 'S256' }));
    assert.equal(step.response.status, 303);
    assert.equal(step.location.origin + step.location.pathname, redirectUri);
    assert.equal(step.location.searchParams.get('state'), 's2');
    res = await token({
      grant_type: 'authorization_code', code: step.location.searchParams.get('code'), redirect_uri: redirectUri,
      code_verifier: again.verifier, client_id: client.client_id, client_secret: client.client_secret,
    });
    body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    checkIdToken(body.id_token, 'n2');

    // A wrong secret is refused.
    res = await token({ grant_type: 'authorization_code', code: 'x', redirect_uri: redirectUri, code_verifier: verifier, client_id: client.client_id, client_secret: 'wrong' });
    assert.equal(res.status, 401);
  } finally {
    child.stdin.end();
  }
  // It exits once stdin closes.
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
}

try {
  await run('RS256');
  await run('ES256');
  process.stdout.write(JSON.stringify({ ok: true }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err.stack ?? err) }) + '\n');
  process.exit(1);
}
