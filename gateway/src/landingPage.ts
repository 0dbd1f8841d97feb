/** The page at `/`: what this gateway serves and how to query it. Self-contained: no external assets. */
export function landingPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tailor gateway</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1d2330}code,pre{background:#f3f4f7;border-radius:4px}pre{padding:1rem;overflow:auto}code{padding:0 .25rem}</style>
</head>
<body>
<h1>Tailor gateway</h1>
<p>One GraphQL endpoint for email personalization: users and consent (crm), catalog and live stock (stock), browsing and recommendations (behavior).</p>
<ul>
<li><code>POST /graphql</code> or <code>GET /graphql?query=…</code>: the graph</li>
<li><code>GET /health</code>, <code>GET /ready</code>: liveness and readiness</li>
<li><code>GET /metrics</code>: Prometheus metrics</li>
</ul>
<pre>curl -s http://127.0.0.1:4000/graphql -H 'content-type: application/json' \\
  -d '{"query":"{ user(id: \\"u-00001\\") { firstName recommendations(limit: 4) { reason product { name price { formatted } } } } }"}'</pre>
</body>
</html>
`;
}
