/** A request target Tailor can route: its decoded-as-sent path and its query string. */
export interface RequestTarget {
  /** The path as sent (percent escapes kept), e.g. `/api/v1/users/u-1/profile`. */
  path: string;
  /** The query string with its `?`, or `''`. */
  search: string;
  searchParams: URLSearchParams;
}

/**
 * Parses `req.url` into a path and a query string, or returns `undefined` for a target that is not
 * an origin-form path (e.g. `//[`, `http://[`, `//host:99999`), so that the caller answers 400 instead
 * of throwing. Only `/`-rooted targets are served; the absolute form is accepted for a proxy's sake.
 */
export function parseRequestTarget(raw: string | undefined): RequestTarget | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    // A base that cannot be overridden by the target: `//host/…` would otherwise name another host.
    url = raw.startsWith('/') ? new URL(`http://tailor.invalid${raw}`) : new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return { path: url.pathname, search: url.search, searchParams: url.searchParams };
}
