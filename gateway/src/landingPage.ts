import type { RestRoute } from './restRoutes';
import type { SandboxExample } from './sandbox/sandboxExample';

/** What the landing page lists: the example operation and the REST routes this gateway serves. */
export interface LandingPageContent {
  example?: SandboxExample;
  restRoutes: RestRoute[];
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The page at `/` when the sandbox is off: what this gateway serves and how to query it, with the
 * configured example operation as a `curl` command. Self-contained: no external assets.
 */
export function landingPage(content: LandingPageContent): string {
  const routes = content.restRoutes.map((r) => `<li><code>GET ${escapeHtml(r.path)}</code>: runs <code>${escapeHtml(r.operation)}</code></li>`);
  let example = '';
  if (content.example) {
    const { operation, variables } = content.example;
    const body = JSON.stringify({ query: operation.body, operationName: operation.name, variables });
    const hashed = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: operation.id } });
    example = `<h2>Example: ${escapeHtml(operation.name)}</h2>
<pre>${escapeHtml(operation.body)}</pre>
<p>As a POST with its text, or as a GET with its hash alone (a persisted operation):</p>
<pre>curl -s "$GATEWAY/graphql" -H 'content-type: application/json' \\
  -d ${escapeHtml(shellQuote(body))}

curl -s -G "$GATEWAY/graphql" \\
  --data-urlencode ${escapeHtml(shellQuote(`variables=${JSON.stringify(variables)}`))} \\
  --data-urlencode ${escapeHtml(shellQuote(`extensions=${hashed}`))}</pre>`;
  }
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tailor gateway</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1d2330}code,pre{background:#f3f4f7;border-radius:4px}pre{padding:1rem;overflow:auto}code{padding:0 .25rem}</style>
</head>
<body>
<h1>Tailor gateway</h1>
<p>One GraphQL endpoint for email personalization, over the subgraphs of its supergraph.</p>
<ul>
<li><code>POST /graphql</code> or <code>GET /graphql?query=…</code>: the graph</li>
${routes.join('\n')}
<li><code>GET /health</code>, <code>GET /ready</code>: liveness and readiness</li>
<li><code>GET /metrics</code>: Prometheus metrics</li>
</ul>
${example}
</body>
</html>
`;
}

/** `text` as one single-quoted shell word. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
