// The OAuth2 provider of the Gmail / Microsoft 365 mailbox tests: npm's oauth2-mock-server (pinned
// in package-lock.json, installed by scripts/lib.sh `ensure_oauth_peer`) on a loopback port, with
// what a real provider does and the mock leaves out:
//
// * the client must authenticate (client id and secret from the environment) and use PKCE;
// * an authorization code is single use and bound to its redirect URI;
// * every token carries the account's `email` (the id_token as Google and Microsoft send it);
// * a refresh token only works while its grant is not revoked (`/revoke`, or `/_test/revoke-grants`
//   for "the user removed the app from their account"), else `invalid_grant`;
// * `/introspect` (RFC 7662) really verifies an access token: its signature against the issuer's
//   own keys (the JWKS it publishes), its expiry, and its grant. The SMTP and IMAP peers call it to
//   accept XOAUTH2 only for a token this server issued.
//
//     OAUTH_PEER_MODULES=<dir with node_modules> OAUTH_PEER_CLIENT_ID=… OAUTH_PEER_CLIENT_SECRET=… node provider.mjs
//
// Prints `ready <port>` once listening on 127.0.0.1, and runs until killed. `/_test/*` lets a test
// say who signs in next, refuse the next consent, shorten token lifetimes and read what happened.

import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.OAUTH_PEER_MODULES;
if (!modules) throw new Error('OAUTH_PEER_MODULES is not set');
const clientId = process.env.OAUTH_PEER_CLIENT_ID ?? '';
const clientSecret = process.env.OAUTH_PEER_CLIENT_SECRET ?? '';

const require = createRequire(path.join(modules, 'package.json'));
const mockPath = require.resolve('oauth2-mock-server');
const { OAuth2Issuer, OAuth2Service } = await import(pathToFileURL(mockPath).href);
// jose as the mock itself resolves it (its own dependency).
const jose = await import(pathToFileURL(createRequire(mockPath).resolve('jose')).href);

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

const state = {
  // Who signs in at the next consent when the request names nobody (`login_hint`).
  nextEmail: 'camille@gmail.test',
  // The next consent is refused (`error=access_denied`).
  denyNext: false,
  // Lifetime of the access tokens issued from now on.
  expiresIn: 3600,
  // Whether a refresh answers with a new refresh token (Microsoft) or not (Google).
  rotate: false,
  codes: new Map(), // code -> { email, redirectUri }
  grants: new Map(), // grant id -> { email, revoked }
  refreshTokens: new Map(), // refresh token -> grant id
  log: { tokenRequests: [], revoked: [], introspections: 0 },
};

function newGrant(email) {
  const id = randomUUID();
  state.grants.set(id, { email, revoked: false });
  return id;
}

// The grant a token request works on, decided once per request (both tokens of one answer carry it).
function grantOf(req) {
  if (req.relaisGrant !== undefined) return req.relaisGrant;
  const body = req.body ?? {};
  let grant = null;
  if (body.grant_type === 'authorization_code') {
    const code = state.codes.get(body.code);
    if (code && code.redirectUri === body.redirect_uri) grant = newGrant(code.email);
  } else if (body.grant_type === 'refresh_token') {
    const id = state.refreshTokens.get(body.refresh_token);
    if (id && !state.grants.get(id).revoked) grant = id;
  }
  req.relaisGrant = grant;
  return grant;
}

service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const url = redirect.url;
  const code = url.searchParams.get('code');
  if (state.denyNext || req.query.client_id !== clientId) {
    url.searchParams.delete('code');
    url.searchParams.set('error', state.denyNext ? 'access_denied' : 'unauthorized_client');
    state.denyNext = false;
    return;
  }
  if (code) {
    const email = typeof req.query.login_hint === 'string' && req.query.login_hint ? req.query.login_hint : state.nextEmail;
    state.codes.set(code, { email, redirectUri: req.query.redirect_uri });
  }
});

service.on('beforeTokenSigning', (token, req) => {
  const grant = grantOf(req);
  const email = grant ? state.grants.get(grant).email : 'nobody@invalid';
  Object.assign(token.payload, {
    email,
    email_verified: true,
    grant,
    jti: randomUUID(),
    exp: token.payload.iat + state.expiresIn,
  });
});

service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  const refuse = (status, error) => {
    response.statusCode = status;
    response.body = { error };
  };
  if (body.client_id !== clientId || body.client_secret !== clientSecret) {
    refuse(401, 'invalid_client');
  } else if (body.grant_type === 'authorization_code') {
    const known = state.codes.has(body.code);
    state.codes.delete(body.code);
    if (!body.code_verifier) refuse(400, 'invalid_request');
    else if (!known || !grantOf(req)) refuse(400, 'invalid_grant');
  } else if (body.grant_type === 'refresh_token') {
    if (!grantOf(req)) refuse(400, 'invalid_grant');
  } else {
    refuse(400, 'unsupported_grant_type');
  }
  if (response.statusCode === 200) {
    response.body.expires_in = state.expiresIn;
    if (body.grant_type === 'refresh_token' && !state.rotate) {
      delete response.body.refresh_token;
    } else {
      state.refreshTokens.set(response.body.refresh_token, grantOf(req));
    }
  }
  state.log.tokenRequests.push({ grant_type: body.grant_type ?? '', status: response.statusCode });
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) return text ? JSON.parse(text) : {};
  return Object.fromEntries(new URLSearchParams(text));
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// RFC 7662: active only for an unexpired token signed by this issuer whose grant stands.
async function introspect(token) {
  state.log.introspections += 1;
  try {
    const keys = jose.createLocalJWKSet({ keys: issuer.keys.toJSON() });
    const { payload } = await jose.jwtVerify(token, keys, { issuer: issuer.url });
    const grant = state.grants.get(payload.grant);
    if (!grant || grant.revoked) return { active: false };
    return { active: true, email: payload.email, sub: payload.sub, exp: payload.exp, client_id: clientId, scope: payload.scope };
  } catch {
    return { active: false };
  }
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'POST' && url.pathname === '/introspect') {
    const body = await readBody(req);
    return json(res, 200, await introspect(body.token ?? ''));
  }
  if (req.method === 'POST' && url.pathname === '/revoke') {
    // RFC 7009: revoking a refresh token ends its grant; the answer is 200 whatever the token.
    const body = await readBody(req);
    const token = body.token ?? '';
    state.log.revoked.push(token);
    const grant = state.refreshTokens.get(token);
    if (grant) state.grants.get(grant).revoked = true;
    res.writeHead(200);
    return res.end();
  }
  if (url.pathname.startsWith('/_test/')) {
    const body = req.method === 'POST' ? await readBody(req) : {};
    switch (url.pathname) {
      case '/_test/login':
        state.nextEmail = body.email;
        return json(res, 200, {});
      case '/_test/deny':
        state.denyNext = true;
        return json(res, 200, {});
      case '/_test/config':
        if (body.expires_in !== undefined) state.expiresIn = Number(body.expires_in);
        if (body.rotate !== undefined) state.rotate = Boolean(body.rotate);
        return json(res, 200, {});
      case '/_test/revoke-grants':
        for (const grant of state.grants.values()) grant.revoked = true;
        return json(res, 200, {});
      case '/_test/log':
        return json(res, 200, state.log);
      default:
        return json(res, 404, {});
    }
  }
  return service.requestHandler(req, res);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) json(res, 500, { error: 'server_error' });
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`ready ${port}\n`);
});
