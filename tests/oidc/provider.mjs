// A real OpenID Connect provider for the single sign-on test (tests/it/sso.rs): the certified
// `oidc-provider` package with its development login and consent pages, one confidential
// client (Homeward), PKCE required. Any login name is accepted and becomes the `sub` claim.
// Started by the test with: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI. Prints "ready"
// when it listens; exits when its standard input closes (the test process went away).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['homeward-test-cookie-key'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, name: `Test ${id}` }; } };
  },
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
