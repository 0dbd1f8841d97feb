import { type Composition, composeSupergraph } from './composeSupergraph';
import { type ApiBreakingChange, findApiBreakingChanges } from './findApiBreakingChanges';
import { type RegisteredSubgraph, SUPERGRAPH_FILE, displayPath } from './readRegistry';

/** What `checkSupergraph` is given: the registry's subgraphs, the supergraph file as it stands, and the API clients rely on. */
export interface CheckInput {
  subgraphs: RegisteredSubgraph[];
  /** The text of schema/supergraph.graphql as it stands, or null when there is none. */
  committedSdl: string | null;
  /** The supergraph whose client API must not break (the one last committed to git); defaults to `committedSdl`. */
  baseSdl?: string | null;
  /** Report breaking changes without failing on them. */
  allowBreaking?: boolean;
}

/** What `checkSupergraph` found. */
export interface CheckResult {
  /** True when the supergraph file is up to date and no breaking change is left unallowed. */
  ok: boolean;
  /** Every reason the check fails, one line each; empty when `ok`. */
  problems: string[];
  /** True when the supergraph file differs from what composing the registry gives (or is missing). */
  stale: boolean;
  /** The client API's breaking changes since the base, listed even when allowed. */
  breakingChanges: ApiBreakingChange[];
  /** The composition the check compared against. */
  composition: Composition;
}

/** Checks, writing nothing, that the supergraph file is what the registry composes to and that the client API loses nothing. */
export function checkSupergraph({ subgraphs, committedSdl, baseSdl, allowBreaking = false }: CheckInput): CheckResult {
  const composition = composeSupergraph(subgraphs);
  if ('errors' in composition) {
    return { ok: false, problems: composition.errors, stale: true, breakingChanges: [], composition };
  }
  const problems: string[] = [];
  const fresh = composition.supergraphSdl;
  const stale = committedSdl !== fresh;
  if (committedSdl === null) {
    problems.push(`${displayPath(SUPERGRAPH_FILE)} does not exist: run \`npm run compose\` and commit it`);
  } else if (stale) {
    problems.push(`${displayPath(SUPERGRAPH_FILE)} is out of date (it first differs from the composed supergraph at line ${firstDifferentLine(committedSdl, fresh)}): run \`npm run compose\` and commit it`);
  }
  const base = baseSdl === undefined ? committedSdl : baseSdl;
  let breakingChanges: ApiBreakingChange[] = [];
  if (base !== null) {
    try {
      breakingChanges = findApiBreakingChanges(base, fresh);
    } catch (error) {
      problems.push(`the base supergraph cannot be read, so the client API cannot be compared: ${(error as Error).message}`);
    }
  }
  if (!allowBreaking) problems.push(...breakingChanges.map((c) => `${c.type}: ${c.description}`));
  return { ok: problems.length === 0, problems, stale, breakingChanges, composition };
}

function firstDifferentLine(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  let i = 0;
  while (i < left.length && i < right.length && left[i] === right[i]) i++;
  return i + 1;
}
