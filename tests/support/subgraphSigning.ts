import { SIGNATURE_HEADER, signRequest } from '../../kit/subgraphCredential';

/**
 * The secret the in-process stack gives the gateway and every subgraph (`TAILOR_SUBGRAPH_SECRET`), so
 * that every in-process test goes through signing and verification.
 */
export const TEST_SUBGRAPH_SECRET = 'test-subgraph-secret-0123456789abcdef0123456789abcdef';

/** The live link key of the test stacks (`TAILOR_LINK_KEYS`): stock seals with it, the gateway opens. */
export const TEST_LINK_KEYS = 'test-links=test-link-key-0123456789abcdef0123456789abcdef';

/** Headers of a JSON POST that carries a fresh gateway credential over exactly `body`. */
export function signedHeaders(body: string | Buffer, secret: string = TEST_SUBGRAPH_SECRET, now = Date.now()): Record<string, string> {
  return { 'content-type': 'application/json', [SIGNATURE_HEADER]: signRequest(secret, body, now) };
}

/** POSTs a GraphQL operation to a subgraph's `/graphql` (`url`), signed as the gateway signs it. */
export async function postSigned<T = any>(url: string, operation: unknown, secret: string = TEST_SUBGRAPH_SECRET): Promise<{ status: number; headers: Headers; body: T }> {
  const body = typeof operation === 'string' ? operation : JSON.stringify(operation);
  const response = await fetch(url, { method: 'POST', headers: signedHeaders(body, secret), body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the raw text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}
