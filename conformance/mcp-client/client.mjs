// An MCP client on the official MCP TypeScript SDK, driven by pow-ext-provider's conformance
// test (examples/provider/tests/conformance.rs), one JSON object per line on stdout:
//
//   node client.mjs <mcp server URL> <client metadata document URL> <redirect_uri>
//   -> {"authorize": "<the authorization URL>"}     (the test signs in and consents)
//   <- the URL the provider sent the browser back to, as one line on stdin
//   -> {"ok": true, "tool": "<the tool's text>"} or {"ok": false, "error": "..."}
//
// The SDK meets the server's 401, reads the protected resource's metadata it names, the
// authorization server's metadata, identifies itself by the client ID metadata document's
// URL (the server advertises them), sends the user to authorize with PKCE and the
// resource, exchanges the code, then connects again with the token and calls a tool.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { createInterface } from 'node:readline';

const [serverUrl, metadataUrl, redirectUrl] = process.argv.slice(2);
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

class Provider {
  constructor() {
    this.saved = {};
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadataUrl() {
    return metadataUrl;
  }
  get clientMetadata() {
    return {
      client_name: 'MCP conformance client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    say({ authorize: url.href });
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

async function main() {
  const provider = new Provider();
  const first = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const client = new Client({ name: 'pow-conformance', version: '1.0.0' });
  try {
    await client.connect(first);
    throw new Error('the server let an unauthenticated client in');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const back = new URL((await lines.next()).value);
  if (back.searchParams.get('error')) throw new Error(`authorization refused: ${back.search}`);
  await first.finishAuth(back.searchParams.get('code'));
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const connected = new Client({ name: 'pow-conformance', version: '1.0.0' });
  await connected.connect(transport);
  const tools = await connected.listTools();
  const result = await connected.callTool({ name: tools.tools[0].name, arguments: {} });
  say({
    ok: true,
    client_id: provider.saved.client?.client_id,
    tools: tools.tools.map((tool) => tool.name),
    tool: result.content?.[0]?.text,
  });
  await connected.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    say({ ok: false, error: `${err.name}: ${err.message}` });
    process.exit(1);
  },
);
