'use strict';
// A test SAML 2.0 Identity Provider on samlify (an independent implementation), served on
// loopback for pow's SSO and SLO integration tests. Usage: `node idp.js <writable-dir>`; prints
// `{"port":N}` on stdout, serves until stdin closes or SIGTERM. See README.md.

// stdout carries exactly one line (the port). The schema validator logs through
// console.debug (stdout), so every console stdout method goes to stderr instead.
console.log = console.info = console.debug = (...a) => console.error(...a);

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const saml = require('samlify');

saml.setSchemaValidator(require('@authenio/samlify-xmllint-wasm'));

const { Constants, SamlLib } = saml;
const NAMEID = {
  email: Constants.namespace.format.emailAddress,
  persistent: Constants.namespace.format.persistent,
  transient: Constants.namespace.format.transient,
};
const SIGALG = {
  sha256: Constants.algorithms.signature.RSA_SHA256,
  sha1: Constants.algorithms.signature.RSA_SHA1,
};
const BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';

// ---------------------------------------------------------------------------
// Keys and self-signed certificates, built with node's crypto and a few lines
// of DER (node has no certificate builder; no extra dependency needed).
function der(tag, content) {
  const n = content.length;
  let len;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...c) => der(0x30, Buffer.concat(c));
const set = (...c) => der(0x31, Buffer.concat(c));
const int = (buf) => der(0x02, buf[0] & 0x80 ? Buffer.concat([Buffer.from([0]), buf]) : buf);
const octets = (buf) => der(0x04, buf);
const bits = (buf) => der(0x03, Buffer.concat([Buffer.from([0]), buf]));
const utf8 = (s) => der(0x0c, Buffer.from(s, 'utf8'));
const explicit = (n, c) => der(0xa0 | n, c);
function oid(dotted) {
  const p = dotted.split('.').map(Number);
  const out = [40 * p[0] + p[1]];
  for (const v of p.slice(2)) {
    const b = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) b.unshift(0x80 | (x & 0x7f));
    out.push(...b);
  }
  return der(0x06, Buffer.from(out));
}
function utcTime(d) {
  const s = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  return der(0x17, Buffer.from(s.slice(2, 4) + s.slice(5, 7) + s.slice(8, 10) + s.slice(11, 13) + s.slice(14, 16) + s.slice(17, 19) + 'Z'));
}

/** An RSA-2048 key and a self-signed X.509 v3 certificate (sha256WithRSAEncryption). */
function makeKeyAndCert(commonName) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sha256WithRSA = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  const now = Date.now();
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))), // v3
    int(serial),
    sha256WithRSA,
    name,
    seq(utcTime(new Date(now - 3600e3)), utcTime(new Date(now + 365 * 86400e3))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    // extensions: basicConstraints (cA false)
    explicit(3, seq(seq(oid('2.5.29.19'), octets(seq())))),
  );
  const signature = crypto.sign('sha256', tbs, privateKey);
  const certDer = seq(tbs, sha256WithRSA, bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  const x509 = new crypto.X509Certificate(certPem);
  if (!x509.verify(publicKey) || !x509.checkPrivateKey(privateKey)) {
    throw new Error('self-signed certificate does not verify');
  }
  return {
    key: privateKey.export({ type: 'pkcs1', format: 'pem' }),
    pkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    cert: certPem,
  };
}

// ---------------------------------------------------------------------------
const dir = process.argv[2];
if (!dir) {
  console.error('usage: node idp.js <writable-dir>');
  process.exit(2);
}
const real = makeKeyAndCert('pow-conformance-saml-idp');
const attacker = makeKeyAndCert('pow-conformance-saml-attacker');
fs.writeFileSync(path.join(dir, 'idp.key'), real.key, { mode: 0o600 });
fs.writeFileSync(path.join(dir, 'idp.crt'), real.cert);
fs.writeFileSync(path.join(dir, 'attacker.key'), attacker.key, { mode: 0o600 });
fs.writeFileSync(path.join(dir, 'attacker.crt'), attacker.cert);
// A key pair for the service provider under test (PKCS#8), to sign its requests and
// receive encrypted assertions.
const spPair = makeKeyAndCert('pow-conformance-saml-sp');
fs.writeFileSync(path.join(dir, 'sp.key'), spPair.pkcs8, { mode: 0o600 });
fs.writeFileSync(path.join(dir, 'sp.crt'), spPair.cert);

const DEFAULTS = {
  email: 'user@example.test',
  name: 'Test User',
  nameId: undefined, // the email
  nameIdFormat: 'email',
  algorithm: 'sha256',
  signResponse: true,
  signAssertion: true,
  encrypt: false,
  cipher: 'gcm',
  attackerKey: false,
  requireSignedRequests: false,
  signLogout: true,
  requireSignedLogout: false,
};
let config = { ...DEFAULTS };
let spMetadata = null; // XML of the one registered SP
let lastLogout = null; // { nameId, sessionIndex, id } of the last LogoutRequest at /slo
let lastSessionIndex = null; // SessionIndex of the last login response issued

// The login response template: samlify's default plus an AuthnStatement (the Web SSO
// profile requires one), with the `email` and `name` attributes (samlify's `attributes`
// shortcut renders them as {attrUserEmail} and {attrUserName}).
const AUTHN_STATEMENT =
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}">' +
  '<saml:AuthnContext><saml:AuthnContextClassRef>' +
  Constants.namespace.authnContextClassRef.passwordProtectedTransport +
  '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>';
const loginResponseTemplate = {
  context: SamlLib.defaultLoginResponseTemplate.context.replace('{AuthnStatement}', AUTHN_STATEMENT),
  attributes: [
    { name: 'email', valueTag: 'user.email', nameFormat: BASIC, valueXsiType: 'xs:string' },
    { name: 'name', valueTag: 'user.name', nameFormat: BASIC, valueXsiType: 'xs:string' },
  ],
};

let base; // http://127.0.0.1:PORT, known once listening
const entityId = () => `${base}/idp`;

const CIPHER = {
  gcm: Constants.algorithms.encryption.data.AES_128_GCM,
  cbc: Constants.algorithms.encryption.data.AES_256,
};

function makeIdp({
  pair = real,
  withCert = true,
  algorithm = 'sha256',
  encrypt = false,
  cipher = 'gcm',
  signedRequests = false,
  signedLogoutRequests = false,
  nameIdFormat = 'email',
} = {}) {
  // samlify's LogoutRequest takes its NameID Format from the first of the IdP's formats.
  const formats = [NAMEID[nameIdFormat], ...[NAMEID.email, NAMEID.persistent].filter((f) => f !== NAMEID[nameIdFormat])];
  return saml.IdentityProvider({
    dataEncryptionAlgorithm: CIPHER[cipher],
    entityID: entityId(),
    privateKey: pair.key,
    signingCert: withCert ? pair.cert : undefined,
    wantAuthnRequestsSigned: signedRequests,
    // parseLogoutRequest verifies the Redirect-binding signature when this is set.
    wantLogoutRequestSigned: signedLogoutRequests,
    // Also the SigAlg of the Redirect-binding logout messages the IdP signs.
    requestSignatureAlgorithm: SIGALG[algorithm],
    isAssertionEncrypted: encrypt,
    nameIDFormat: formats,
    singleSignOnService: [{ Binding: Constants.namespace.binding.redirect, Location: `${base}/sso` }],
    singleLogoutService: [{ Binding: Constants.namespace.binding.redirect, Location: `${base}/slo` }],
    loginResponseTemplate,
  });
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The SP's HTTP-POST AssertionConsumerService URLs, the default (isDefault, else first) first. */
function postAcsUrls(sp) {
  const list = [].concat(sp.entityMeta.getAssertionConsumerService() || []);
  const post = list.filter((a) => a && a.binding === Constants.namespace.binding.post);
  post.sort((a, b) => (b.isDefault === 'true') - (a.isDefault === 'true'));
  const urls = post.map((a) => a.location).filter(Boolean);
  if (urls.length === 0) throw new HttpError(400, 'the SP metadata has no HTTP-POST AssertionConsumerService');
  return urls;
}

/** The key pair the IdP signs with under the current config (attackerKey). */
const signingPair = () => (config.attackerKey ? attacker : real);

function registeredSp() {
  if (!spMetadata) throw new HttpError(400, 'no SP registered (POST /sp first)');
  // samlify signs a Redirect-binding LogoutRequest / LogoutResponse when the *target*
  // entity (this SP object) has wantLogoutRequestSigned / wantLogoutResponseSigned.
  return saml.ServiceProvider({
    metadata: spMetadata,
    wantLogoutRequestSigned: config.signLogout,
    wantLogoutResponseSigned: config.signLogout,
  });
}

/**
 * The Redirect-binding signed octet string, `SAMLRequest=..&RelayState=..&SigAlg=..`
 * (or SAMLResponse) exactly as sent (SAML Bindings 3.4.4.1): every parameter but Signature.
 */
function redirectOctetString(url) {
  return url.search
    .slice(1)
    .split('&')
    .filter((part) => /^(SAMLRequest|SAMLResponse|RelayState|SigAlg)=/.test(part))
    .join('&');
}

/** Build a login response with samlify's createLoginResponse under the current config. */
async function loginResponse(requestId, acs, relayState) {
  const cfg = config;
  // Signing is steered through the SP entity the way samlify reads it: the Assertion is
  // signed when the SP "wants assertions signed", the Response when `wantMessageSigned`
  // is set (or when the assertion is not signed).
  const sp = saml.ServiceProvider({ metadata: spMetadata, wantMessageSigned: cfg.signResponse });
  sp.entityMeta.isWantAssertionsSigned = () => cfg.signAssertion;
  if (cfg.encrypt && !sp.entityMeta.getX509Certificate('encryption')) {
    throw new HttpError(400, 'no encryption certificate');
  }
  const idp = makeIdp({ pair: cfg.attackerKey ? attacker : real, algorithm: cfg.algorithm, encrypt: cfg.encrypt, cipher: cfg.cipher });
  const user = { email: cfg.email, name: cfg.name };
  const sessionIndex = '_session-' + crypto.randomUUID();
  const customTagReplacement = (template) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const id = '_' + crypto.randomUUID();
    const assertionId = '_' + crypto.randomUUID();
    const tags = {
      ID: id,
      AssertionID: assertionId,
      Destination: acs,
      Audience: sp.entityMeta.getEntityID(),
      SubjectRecipient: acs,
      Issuer: idp.entityMeta.getEntityID(),
      IssueInstant: now.toISOString(),
      StatusCode: Constants.StatusCode.Success,
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: NAMEID[cfg.nameIdFormat],
      NameID: cfg.nameId != null ? cfg.nameId : cfg.email,
      InResponseTo: requestId || undefined, // undefined drops the attribute (unsolicited)
      AuthnInstant: now.toISOString(),
      SessionIndex: sessionIndex,
      attrUserEmail: user.email,
      attrUserName: user.name,
    };
    return { id, context: SamlLib.replaceTagsByValue(template, tags) };
  };
  const res = await idp.createLoginResponse(sp, { extract: { request: { id: requestId || '' } } }, 'post', user, {
    customTagReplacement,
    relayState,
    // Sign the Response over the EncryptedAssertion, not over the plaintext it replaces.
    encryptThenSign: cfg.encrypt,
  });
  lastSessionIndex = sessionIndex;
  let samlResponse = res.context;
  if (!cfg.signAssertion && !cfg.signResponse) {
    // samlify always signs something; for a wholly unsigned response remove its one
    // (Response) signature.
    const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
    const sigs = xml.match(/<ds:Signature[\s>][\s\S]*?<\/ds:Signature>/g) || [];
    if (sigs.length !== 1) throw new Error(`expected one signature to remove, found ${sigs.length}`);
    samlResponse = Buffer.from(xml.replace(sigs[0], ''), 'utf8').toString('base64');
  }
  return { acs, samlResponse, relayState };
}

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function postPage({ acs, samlResponse, relayState }) {
  const relay = relayState != null && relayState !== ''
    ? `\n<input type="hidden" name="RelayState" value="${esc(relayState)}">`
    : '';
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SAML HTTP-POST</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="${esc(acs)}">
<input type="hidden" name="SAMLResponse" value="${esc(samlResponse)}">${relay}
<noscript><button type="submit">Continue</button></noscript>
</form>
</body></html>
`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text) {
  if (text.trim() === '') return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${e.message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'expected a JSON object');
  return v;
}

function parseConfig(body) {
  const c = { ...DEFAULTS };
  const str = (k) => {
    if (body[k] === undefined || body[k] === null) return;
    if (typeof body[k] !== 'string') throw new HttpError(400, `${k} must be a string`);
    c[k] = body[k];
  };
  const bool = (k) => {
    if (body[k] === undefined || body[k] === null) return;
    if (typeof body[k] !== 'boolean') throw new HttpError(400, `${k} must be a boolean`);
    c[k] = body[k];
  };
  ['email', 'name', 'nameId', 'nameIdFormat', 'algorithm', 'cipher'].forEach(str);
  ['signResponse', 'signAssertion', 'encrypt', 'attackerKey', 'requireSignedRequests', 'signLogout', 'requireSignedLogout'].forEach(bool);
  if (!NAMEID[c.nameIdFormat]) throw new HttpError(400, 'nameIdFormat must be email, persistent or transient');
  if (!SIGALG[c.algorithm]) throw new HttpError(400, 'algorithm must be sha256 or sha1');
  if (!CIPHER[c.cipher]) throw new HttpError(400, 'cipher must be gcm or cbc');
  return c;
}

async function handle(req, res) {
  const url = new URL(req.url, base);
  const send = (status, type, body) => {
    res.writeHead(status, type ? { 'content-type': type } : {});
    res.end(body);
  };
  const route = `${req.method} ${url.pathname}`;

  if (route === 'GET /metadata') {
    let idp;
    if (url.searchParams.get('unsigned') === '1') idp = makeIdp({ withCert: false });
    else if (url.searchParams.get('attacker') === '1') idp = makeIdp({ pair: attacker });
    else idp = makeIdp();
    return send(200, 'application/samlmetadata+xml; charset=utf-8', idp.getMetadata());
  }

  if (route === 'POST /sp') {
    const xml = await readBody(req);
    try {
      const sp = saml.ServiceProvider({ metadata: xml });
      if (!sp.entityMeta.getEntityID()) throw new Error('no entityID');
    } catch (e) {
      throw new HttpError(400, `invalid SP metadata: ${e.message || e}`);
    }
    spMetadata = xml;
    return send(204);
  }

  if (route === 'POST /config') {
    config = parseConfig(parseJson(await readBody(req)));
    return send(204);
  }

  if (route === 'GET /sso') {
    const sp = registeredSp();
    const q = Object.fromEntries(url.searchParams); // decoded values ('+' is a space)
    let info;
    try {
      const octetString = redirectOctetString(url);
      info = await makeIdp({ signedRequests: config.requireSignedRequests }).parseLoginRequest(sp, 'redirect', { query: q, octetString });
    } catch (e) {
      throw new HttpError(400, String((e && e.message) || e));
    }
    const request = (info.extract && info.extract.request) || {};
    if (!request.id) throw new HttpError(400, 'the AuthnRequest has no ID');
    // samlify does not match the request to the SP; a real IdP does.
    const spEntityId = sp.entityMeta.getEntityID();
    if (info.extract.issuer !== spEntityId) {
      throw new HttpError(400, `AuthnRequest Issuer ${JSON.stringify(info.extract.issuer)} is not the registered SP ${JSON.stringify(spEntityId)}`);
    }
    const acsUrls = postAcsUrls(sp);
    let acs = acsUrls[0];
    if (request.assertionConsumerServiceUrl) {
      acs = request.assertionConsumerServiceUrl;
      if (!acsUrls.includes(acs)) {
        throw new HttpError(400, `AssertionConsumerServiceURL ${JSON.stringify(acs)} is not an HTTP-POST ACS in the SP metadata`);
      }
    }
    return send(200, 'text/html; charset=utf-8', postPage(await loginResponse(request.id, acs, q.RelayState)));
  }

  if (route === 'POST /unsolicited') {
    const sp = registeredSp();
    const body = parseJson(await readBody(req));
    if (body.relayState != null && typeof body.relayState !== 'string') {
      throw new HttpError(400, 'relayState must be a string');
    }
    return send(200, 'text/html; charset=utf-8', postPage(await loginResponse(undefined, postAcsUrls(sp)[0], body.relayState)));
  }

  if (route === 'GET /slo') {
    // An SP-initiated LogoutRequest (HTTP-Redirect); answered with a LogoutResponse by redirect.
    const sp = registeredSp();
    const q = Object.fromEntries(url.searchParams); // decoded values ('+' is a space)
    if (q.SAMLRequest === undefined) throw new HttpError(400, 'no SAMLRequest');
    const idp = makeIdp({ pair: signingPair(), algorithm: config.algorithm, signedLogoutRequests: config.requireSignedLogout });
    let info;
    try {
      info = await idp.parseLogoutRequest(sp, 'redirect', { query: q, octetString: redirectOctetString(url) });
    } catch (e) {
      throw new HttpError(400, String((e && e.message) || e));
    }
    const extract = info.extract || {};
    const request = extract.request || {};
    if (!request.id) throw new HttpError(400, 'the LogoutRequest has no ID');
    // samlify does not match a LogoutRequest's Issuer to the SP; a real IdP does.
    const spEntityId = sp.entityMeta.getEntityID();
    if (extract.issuer !== spEntityId) {
      throw new HttpError(400, `LogoutRequest Issuer ${JSON.stringify(extract.issuer)} is not the registered SP ${JSON.stringify(spEntityId)}`);
    }
    lastLogout = {
      nameId: extract.nameID != null ? extract.nameID : null,
      sessionIndex: extract.sessionIndex != null ? extract.sessionIndex : null,
      id: request.id,
    };
    let out;
    try {
      out = idp.createLogoutResponse(sp, info, 'redirect', q.RelayState);
    } catch (e) {
      throw new HttpError(400, String((e && e.message) || e));
    }
    res.writeHead(302, { location: out.context, 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`${out.context}\n`);
  }

  if (route === 'GET /last-logout') {
    if (!lastLogout) return send(404, 'text/plain; charset=utf-8', 'no LogoutRequest received yet\n');
    return send(200, 'application/json', JSON.stringify(lastLogout));
  }

  if (route === 'GET /last-login') {
    if (!lastSessionIndex) return send(404, 'text/plain; charset=utf-8', 'no login response issued yet\n');
    return send(200, 'application/json', JSON.stringify({ sessionIndex: lastSessionIndex }));
  }

  if (route === 'POST /logout') {
    // An IdP-initiated LogoutRequest to the registered SP's HTTP-Redirect SingleLogoutService.
    const sp = registeredSp();
    const body = parseJson(await readBody(req));
    if (typeof body.nameId !== 'string' || body.nameId === '') throw new HttpError(400, 'nameId must be a non-empty string');
    const nameIdFormat = body.nameIdFormat == null ? 'persistent' : body.nameIdFormat;
    if (!NAMEID[nameIdFormat]) throw new HttpError(400, 'nameIdFormat must be email, persistent or transient');
    for (const k of ['sessionIndex', 'relayState']) {
      if (body[k] != null && typeof body[k] !== 'string') throw new HttpError(400, `${k} must be a string`);
    }
    const idp = makeIdp({ pair: signingPair(), algorithm: config.algorithm, nameIdFormat });
    // binding-redirect.js logoutRequestRedirectURL reads user.logoutNameID (NameID) and
    // user.sessionIndex (SessionIndex, element dropped when undefined).
    const user = { logoutNameID: body.nameId, sessionIndex: body.sessionIndex == null ? undefined : body.sessionIndex };
    let out;
    try {
      out = idp.createLogoutRequest(sp, 'redirect', user, body.relayState == null ? undefined : body.relayState);
    } catch (e) {
      throw new HttpError(400, String((e && e.message) || e));
    }
    return send(200, 'application/json', JSON.stringify({ url: out.context, id: out.id }));
  }

  return send(404, 'text/plain; charset=utf-8', `no route ${route}\n`);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    const status = e instanceof HttpError ? e.status : 500;
    if (status === 500) console.error(e);
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${(e && e.message) || e}\n`);
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  base = `http://127.0.0.1:${port}`;
  process.stdout.write(JSON.stringify({ port }) + '\n');
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
