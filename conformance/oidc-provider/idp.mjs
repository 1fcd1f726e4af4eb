// An OpenID Connect provider on oidc-provider (an independent implementation), served on
// loopback for pow's tests to sign in through as the upstream identity provider:
//
//   node idp.mjs <port> <config-json>
//   -> {"issuer": "http://127.0.0.1:<port>"}     one line on stdout once it is listening
//   ...serves until stdin closes or SIGTERM/SIGINT.
//
// <port> 0 takes any free port. <config-json>:
//   {"clients":  [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//    "accounts": [{"id": "u1", "email": "...", "email_verified": true, "name": "..."}],
//    "sign_with": "RS256" | "ES256"}                  (optional, RS256 by default)
//
// The clients are confidential (client_secret_basic or client_secret_post, either works),
// use the authorization code flow and must send PKCE (S256). Scopes openid email profile;
// the ID token carries email, email_verified and name (conformIdTokenClaims off). The
// signing key is generated at start and published at /jwks. The clients are first-party:
// no consent step, a grant is made for whatever they ask. The login is a plain form a test
// completes without a browser (see README.md):
//   GET  /interaction/<uid>                -> 200, a form naming the prompt
//   POST /interaction/<uid>/login login=<account id>
//                                         -> 303 to /auth/<uid>, which ends at the redirect_uri
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const [portArg, configArg] = process.argv.slice(2);
if (portArg === undefined || configArg === undefined) {
  process.stderr.write('usage: node idp.mjs <port> <config-json>\n');
  process.exit(2);
}
const config = JSON.parse(configArg);
const accounts = new Map((config.accounts ?? []).map((account) => [String(account.id), account]));
const alg = config.sign_with ?? 'RS256';

// The one signing key, made now: RS256 (RSA 2048) or ES256 (P-256).
function signingKey() {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg, use: 'sig' };
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The bound port is needed for the issuer, so the server listens first and is handed the
// provider's handler afterwards.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(portArg), '127.0.0.1', resolve);
}).catch((err) => {
  process.stderr.write(`cannot listen on 127.0.0.1:${portArg}: ${err.message}\n`);
  process.exit(1);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    // basic is the registered method; this version accepts client_secret_post for it too.
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: alg,
  })),
  jwks: { keys: [signingKey()] },
  enabledJWA: { idTokenSigningAlgValues: [alg] },
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The scope's claims in the ID token as well, though an access token is issued.
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    const account = accounts.get(String(id));
    if (!account) return undefined;
    return {
      accountId: String(account.id),
      async claims() {
        return {
          sub: String(account.id),
          email: account.email,
          email_verified: account.email_verified,
          name: account.name,
        };
      },
    };
  },
  // First-party clients: a grant of whatever they ask, so the consent prompt never shows.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (grant?.accountId !== oidc.account.accountId) {
      grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.account.accountId });
    }
    grant.addOIDCScope(oidc.params.scope ?? 'openid');
    if (oidc.claims && Object.keys(oidc.claims).length) {
      for (const [use, claims] of Object.entries(oidc.claims)) {
        if (use === 'id_token' || use === 'userinfo') grant.addOIDCClaims(Object.keys(claims ?? {}));
      }
    }
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  // Signed cookies (each comes with a .sig companion); never Secure, this is plain http.
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  async renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `${out.error}: ${out.error_description ?? ''}\n`;
  },
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

// The login: GET the form, POST login=<account id>.
async function interaction(req, res, path) {
  const [uid, action] = path.split('/').slice(2);
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, 'text/plain; charset=utf-8', `${err.error ?? err.message}: ${err.error_description ?? err.message}\n`);
  }
  if (details.uid !== uid) {
    return send(res, 400, 'text/plain; charset=utf-8', 'interaction mismatch\n');
  }
  const { prompt } = details;
  if (req.method === 'GET' && action === undefined) {
    const options = [...accounts.keys()].map((id) => `<option value="${escape(id)}">${escape(id)}</option>`).join('');
    return send(res, 200, 'text/html; charset=utf-8', `<!doctype html>
<title>Sign in</title>
<p>Sign in to ${escape(details.params.client_id)} (prompt: ${escape(prompt.name)})</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<select name="login">${options}</select>
<button type="submit">Sign in</button>
</form>
`);
  }
  if (req.method === 'POST' && action === 'login') {
    const accountId = (await readForm(req)).get('login');
    if (!accounts.has(accountId)) {
      return send(res, 400, 'text/plain; charset=utf-8', `no account ${accountId}\n`);
    }
    // 303 to the resume URL (/auth/<uid>); the grant comes from loadExistingGrant.
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/interaction/')) {
    interaction(req, res, path).catch((err) => {
      process.stderr.write(`interaction: ${err.stack}\n`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${err.message}\n`);
    });
  } else {
    callback(req, res);
  }
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

process.stdout.write(JSON.stringify({ issuer }) + '\n');
