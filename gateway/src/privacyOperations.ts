import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import {
  type DocumentNode,
  type ExecutionResult,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  execute,
  getOperationAST,
  extendSchema,
  parse,
} from 'graphql';
import { ErrorCode } from '../../kit/errors';
import type { Logger } from '../../kit/logger';
import { SIGNATURE_HEADER } from '../../kit/subgraphCredential';
import type { Client } from './clientAuth';

/** The privacy fields the gateway answers itself, and their types (`schema/privacy.graphql`). */
export const PRIVACY_SDL_FILE = join(__dirname, '..', '..', 'schema', 'privacy.graphql');

/** Longest one subgraph may take to erase or export, in ms: these are not send-time requests. */
const PRIVACY_TIMEOUT_MS = 10_000;
/** Tries per subgraph: erasure is idempotent, so a failed call is safe to send again. */
const PRIVACY_ATTEMPTS = 2;

/** One subgraph the gateway asks: its name and its routing URL (`…/graphql`). */
export interface PrivacyTarget {
  name: string;
  url: string;
}

/** What a subgraph's `/privacy/erase` answers. */
interface ErasureAnswer {
  subgraph: string;
  holdsPersonalData: boolean;
  deleted: Record<string, number>;
  erasedAt: string;
}

/** What a subgraph's `/privacy/export` answers. */
interface ExportAnswer {
  subgraph: string;
  holdsPersonalData: boolean;
  data: Record<string, unknown>;
  exportedAt: string;
}

/** Options of `createPrivacyOperations`. */
export interface PrivacyOptions {
  /** Every subgraph of the served supergraph. */
  targets: () => PrivacyTarget[];
  /** Signs a body with the gateway credential (unset: unsigned, as for `/graphql`). */
  sign?: (body: string) => string;
  logger: Logger;
  /** The SDL of the privacy fields (default `schema/privacy.graphql`). */
  sdlFile?: string;
}

/**
 * `eraseUser(id:)` and `exportUser(id:)`: the gateway asks every subgraph of the supergraph, at
 * `POST /privacy/erase` and `POST /privacy/export` with the gateway credential, and answers with one
 * receipt (or one part of the document) per subgraph. Every subgraph is asked, so none can be left
 * out; one without personal data answers that it holds none (the kit does so for a subgraph without
 * a `privacy` hook). A subgraph that cannot be reached makes the answer `complete: false`; erasing
 * again is safe. `note` gets what the audit log keeps: counts and subgraph names, never the user's id.
 */
export function createPrivacyOperations(options: PrivacyOptions) {
  const sdl = readFileSync(options.sdlFile ?? PRIVACY_SDL_FILE, 'utf8');
  const document = parse(sdl);
  const fields = new Set(
    document.definitions.flatMap((d) => ('fields' in d && (d.kind === Kind.OBJECT_TYPE_EXTENSION) ? (d.fields ?? []).map((f) => f.name.value) : [])),
  );

  /** The API schema with the privacy fields added (and `DateTime`, if the supergraph has none). */
  const extend = (apiSchema: GraphQLSchema): GraphQLSchema => {
    let source = sdl;
    if (!apiSchema.getType('DateTime')) source += '\nscalar DateTime\n';
    if (!apiSchema.getMutationType()) source = source.replace(/\bextend type Mutation\b/, 'type Mutation');
    // The scope directive is read by the gateway (`readAccessRules`), not shown to clients.
    const parsed = parse(source);
    const definitions = parsed.definitions.filter((d) => d.kind !== Kind.DIRECTIVE_DEFINITION);
    return extendSchema(apiSchema, { ...parsed, definitions }, { assumeValidSDL: true });
  };

  const call = async <T>(target: PrivacyTarget, action: 'erase' | 'export', userId: string): Promise<T> => {
    const body = JSON.stringify({ userId });
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= PRIVACY_ATTEMPTS; attempt++) {
      try {
        return (await post(new URL(`/privacy/${action}`, target.url), body, options.sign)) as T;
      } catch (error) {
        lastError = error as Error;
      }
    }
    throw lastError!;
  };

  async function eraseUser(userId: string, client: Client | undefined, note: (detail: Record<string, unknown>) => void) {
    const targets = options.targets();
    const receipts = await Promise.all(
      targets.map(async (target) => {
        try {
          const answer = await call<ErasureAnswer>(target, 'erase', userId);
          const deleted = Object.entries(answer.deleted ?? {}).map(([kind, count]) => ({ kind, count }));
          return { subgraph: target.name, holdsPersonalData: answer.holdsPersonalData === true, deleted, erasedAt: answer.erasedAt, error: null };
        } catch (error) {
          return { subgraph: target.name, holdsPersonalData: true, deleted: [], erasedAt: null, error: (error as Error).message };
        }
      }),
    );
    const complete = receipts.every((r) => r.error === null);
    note({ complete, receipts: receipts.map((r) => ({ subgraph: r.subgraph, deleted: Object.fromEntries(r.deleted.map((d) => [d.kind, d.count])), ok: r.error === null })) });
    options.logger.info({ client: client?.name, complete, subgraphs: receipts.length }, 'eraseUser');
    return { userId, complete, receipts };
  }

  async function exportUser(userId: string, note: (detail: Record<string, unknown>) => void) {
    const targets = options.targets();
    const parts = await Promise.all(
      targets.map(async (target) => {
        try {
          return { target, answer: await call<ExportAnswer>(target, 'export', userId) };
        } catch (error) {
          return { target, error: (error as Error).message };
        }
      }),
    );
    const subgraphs: Record<string, unknown> = {};
    const missing: string[] = [];
    for (const part of parts) {
      if ('error' in part) missing.push(part.target.name);
      else if (part.answer.holdsPersonalData) subgraphs[part.target.name] = part.answer.data;
    }
    const exportedAt = new Date().toISOString();
    note({ complete: missing.length === 0, subgraphs: Object.keys(subgraphs), unreachable: missing });
    return { userId, complete: missing.length === 0, exportedAt, document: { userId, exportedAt, subgraphs, ...(missing.length ? { unreachable: missing } : {}) } };
  }

  return {
    /** The root fields this module answers. */
    fields,
    extend,
    /** The SDL, for the access rules of its fields. */
    document,
    /**
     * Runs an operation whose root fields are all privacy fields against `schema` (the extended API
     * schema); an operation mixing them with other fields is refused.
     */
    async execute(
      schema: GraphQLSchema,
      operationDocument: DocumentNode,
      operationName: string | null | undefined,
      variables: Record<string, unknown> | undefined,
      client: Client | undefined,
      note: (detail: Record<string, unknown>) => void,
    ): Promise<ExecutionResult> {
      const rootValue = {
        eraseUser: ({ id }: { id: string }) => eraseUser(id, client, note),
        exportUser: ({ id }: { id: string }) => exportUser(id, note),
      };
      return execute({ schema, document: operationDocument, operationName, variableValues: variables, rootValue });
    },
    /** Which root fields of the selected operation are privacy fields, and whether others are there too. */
    rootFieldsOf(operationDocument: DocumentNode, operationName: string | null | undefined): { privacy: number; other: number } {
      const operation = getOperationAST(operationDocument, operationName);
      let privacy = 0;
      let other = 0;
      for (const selection of operation?.selectionSet.selections ?? []) {
        if (selection.kind !== Kind.FIELD) {
          other++;
          continue;
        }
        if (fields.has(selection.name.value)) privacy++;
        else if (selection.name.value !== '__typename') other++;
      }
      return { privacy, other };
    },
    mixedError: () =>
      new GraphQLError(`${[...fields].join(' and ')} must be the only fields of their operation: send them on their own.`, {
        extensions: { code: ErrorCode.BAD_USER_INPUT },
      }),
  };
}

export type PrivacyOperations = ReturnType<typeof createPrivacyOperations>;

/** POSTs `body` to `url`, signed, and reads a JSON answer; anything but a 200 with JSON is an error. */
function post(url: URL, body: string, sign?: (body: string) => string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (sign) headers[SIGNATURE_HEADER] = sign(body);
    const req = httpRequest(url, { method: 'POST', headers, timeout: PRIVACY_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} from ${url.pathname}`));
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`${url.pathname} answered something that is not JSON`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PRIVACY_TIMEOUT_MS} ms`)));
    req.on('error', (error) => reject(new Error(error.message.startsWith('no answer') ? error.message : `cannot reach the subgraph (${(error as NodeJS.ErrnoException).code ?? error.message})`)));
    req.end(body);
  });
}
