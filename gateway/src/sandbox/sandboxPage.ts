/** What the sandbox page hands to the browser bundle: where to send operations and what to show first. */
export interface SandboxPageConfig {
  /** The GraphQL endpoint, relative to the page (`graphql` is `/graphql` from both `/` and `/graphql`). */
  endpoint: string;
  /** The operation the first tab opens with. */
  query: string;
  /** The variables of that operation, as JSON text. */
  variables: string;
  /** Request headers the headers editor opens with, as JSON text (the development key, for this machine only). */
  headers?: string;
}

/** The id of the `<script type="application/json">` element that carries the page's `SandboxPageConfig`. */
export const SANDBOX_CONFIG_ELEMENT_ID = 'tailor-sandbox-config';

/** The element the sandbox mounts into. */
export const SANDBOX_ROOT_ELEMENT_ID = 'tailor-sandbox';

/**
 * The sandbox's HTML: GraphiQL from the gateway's own `/sandbox/` assets (relative URLs, so it works
 * from `/` and `/graphql` alike), nothing loaded from anywhere else.
 */
export function sandboxPage(config: SandboxPageConfig, assets: { script: string; stylesheet: string }): string {
  // JSON inside <script> ends at the first "</script"; escaping "<" keeps any text inert.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tailor sandbox</title>
<link rel="stylesheet" href="${assets.stylesheet}">
<style>html,body,#${SANDBOX_ROOT_ELEMENT_ID}{height:100%;margin:0}#${SANDBOX_ROOT_ELEMENT_ID}>p{font:16px system-ui,sans-serif;padding:1rem}</style>
</head>
<body>
<div id="${SANDBOX_ROOT_ELEMENT_ID}"><p>Loading the Tailor sandbox…</p></div>
<noscript>The sandbox needs JavaScript. Without it, send operations to <code>POST /graphql</code>.</noscript>
<script id="${SANDBOX_CONFIG_ELEMENT_ID}" type="application/json">${json}</script>
<script src="${assets.script}"></script>
</body>
</html>
`;
}
