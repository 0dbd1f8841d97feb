/// <reference lib="dom" />
// The sandbox's browser entry: esbuild bundles it with React and GraphiQL into dist/sandbox.js
// (`npm run build:sandbox`). It runs in the browser only; the gateway never imports it.
import { GraphiQL, type GraphiQLProps } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { SANDBOX_CONFIG_ELEMENT_ID, SANDBOX_ROOT_ELEMENT_ID, type SandboxPageConfig } from './sandboxPage';

/** Renders GraphiQL into `root`, sending operations to the page's own gateway. */
export function mountSandbox(root: HTMLElement, config: SandboxPageConfig): void {
  const endpoint = new URL(config.endpoint, document.baseURI).href;
  // The page's headers (the development key, on the gateway's machine) go with every request,
  // the schema's introspection included, which GraphiQL sends before its headers editor is read.
  const pageHeaders = config.headers ? (JSON.parse(config.headers) as Record<string, string>) : {};
  const fetcher: GraphiQLProps['fetcher'] = async (params, options) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...pageHeaders, ...options?.headers },
      body: JSON.stringify(params),
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${response.status} from ${endpoint}: ${text.slice(0, 500)}` }] };
    }
  };
  createRoot(root).render(
    createElement(
      GraphiQL,
      {
        fetcher,
        // As props (not defaultTabs, whose variables GraphiQL 4 drops): the example opens in its own tab,
        // re-selected on reload while unchanged, next to the tabs GraphiQL keeps in localStorage.
        query: config.query,
        variables: config.variables,
        defaultEditorToolsVisibility: config.headers ? 'headers' : 'variables',
        isHeadersEditorEnabled: true,
        ...(config.headers ? { headers: config.headers } : {}),
      },
      createElement(GraphiQL.Logo, null, 'Tailor sandbox'),
    ),
  );
}

const configElement = typeof document === 'undefined' ? null : document.getElementById(SANDBOX_CONFIG_ELEMENT_ID);
const rootElement = typeof document === 'undefined' ? null : document.getElementById(SANDBOX_ROOT_ELEMENT_ID);
if (configElement && rootElement) mountSandbox(rootElement, JSON.parse(configElement.textContent ?? '{}') as SandboxPageConfig);
