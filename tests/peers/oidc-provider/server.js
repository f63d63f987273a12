// Test peer: a loopback OpenID Provider (npm oidc-provider) for the staff SSO tests.
//
// Usage: PORT=8090 node server.js        (prints "READY <issuer>" once listening)
//
// Environment:
//   PORT                 port on 127.0.0.1 (default 8090; the issuer is http://127.0.0.1:PORT)
//   OIDC_CLIENT_SECRET   secret of the only client, "sportello-staff" (default sportello-staff-secret)
//   OIDC_REDIRECT_URIS   comma-separated exact redirect URIs; when unset, any
//                        http://127.0.0.1:<port>/auth/staff/callback is accepted
//
// Login: GET /interaction/<uid> shows a form; POST login=<account id>&password=<anything>
// to /interaction/<uid>/login. Consent is implicit (first-party client). Accounts: ACCOUNTS.
// Plain HTTP, in-memory storage, keys generated at start-up: for tests only.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 8090);
const issuer = `http://127.0.0.1:${port}`;
const CALLBACK = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}\/auth\/staff\/callback$/;
const exactRedirectUris = (process.env.OIDC_REDIRECT_URIS || '')
  .split(',').map((s) => s.trim()).filter(Boolean);

// Account id (= login name) -> claims. The first five are the staff of config/demo/ente.toml;
// "sconosciuto" is unknown to Sportello; "non.verificato" has a staff e-mail, not verified.
const ACCOUNTS = {
  'operatore.anagrafe': ['Maria Bianchi', 'maria.bianchi@comune.esempio.example', true],
  'operatore.tributi': ['Giuseppe Verdi', 'giuseppe.verdi@comune.esempio.example', true],
  'operatore.urp': ['Anna Neri', 'anna.neri@comune.esempio.example', true],
  protocollista: ['Luca Russo', 'luca.russo@comune.esempio.example', true],
  amministratore: ['Paola Ferrari', 'paola.ferrari@comune.esempio.example', true],
  sconosciuto: ['Utente Sconosciuto', 'sconosciuto@example.org', true],
  'non.verificato': ['Maria Bianchi', 'maria.bianchi@comune.esempio.example', false],
};

function claimsOf(id) {
  const [name, email, verified] = ACCOUNTS[id];
  return {
    sub: id, email, email_verified: verified, preferred_username: id, name,
  };
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'sportello-staff',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'sportello-staff-secret',
    redirect_uris: exactRedirectUris.length
      ? exactRedirectUris : ['http://127.0.0.1:8080/auth/staff/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider 9 accepts client_secret_post too for a client_secret_basic client
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-only-cookie-key-not-secret'] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600,
  },
  conformIdTokenClaims: false, // put the scope claims in the ID token too
  pkce: { required: () => true }, // oidc-provider 9 supports S256 only
  responseTypes: ['code'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, id) => (Object.hasOwn(ACCOUNTS, id)
    ? { accountId: id, claims: () => claimsOf(id) } : undefined),
  // First-party client: grant every requested scope and claim without a consent page.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grant = new oidc.provider.Grant({
      accountId: oidc.account.accountId, clientId: oidc.client.clientId,
    });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

if (!exactRedirectUris.length) {
  provider.Client.prototype.redirectUriAllowed = (uri) => CALLBACK.test(uri);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (uid, error = '') => `<!DOCTYPE html>
<html lang="it"><head><meta charset="utf-8"><title>Test OP login</title></head><body>
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <input type="text" name="login" required autofocus>
  <input type="password" name="password">
  <button type="submit">Accedi</button>
</form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (details.prompt.name !== 'login') {
      throw new Error(`unexpected prompt ${details.prompt.name}`);
    }
    if (req.method === 'GET' && !action) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid));
      return;
    }
    if (req.method === 'POST' && action === 'login') {
      const login = (await readForm(req)).get('login') || '';
      if (!Object.hasOwn(ACCOUNTS, login)) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(loginPage(uid, `utente sconosciuto: ${login}`));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } });
      return;
    }
    res.writeHead(405).end();
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`interaction error: ${err.message}\n`);
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(req.url.split('?')[0]);
  if (m) {
    interaction(req, res, m[1], m[2]);
  } else {
    callback(req, res);
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
