/**
 * The fault scenario of `npm run bench`: the single-recipient workload through a gateway process of its
 * own, routed to the stack's crm and stock directly and to its behavior through a fault proxy
 * (`faultProxy.ts`). Healthy runs first (proxy passing through), then, per repetition, a run with every
 * behavior request slowed to `slowMs`, followed by a heal: the proxy passes through again and a poller
 * sends one request every `pollIntervalMs` until an answer carries personal recommendations again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gatewaySettings } from '../gateway/src/config';
import { SERVICE_NODE_FLAGS, type Stack, planStack, readDevKey, stopProcess } from '../scripts/startStack';
import { type BenchPlan, REPO_ROOT } from './config';
import { type FaultProxy, startFaultProxy } from './faultProxy';
import { type FaultResult, type FaultRun, type RecoveryCycle, median } from './report';
import { LOOPBACK_GUARD, assertLoopback, variantEnv } from './stack';
import { demoIds, persistedBody, persistedHash, requestHeaders, runSingle } from './workloads';

const GATEWAY_ENTRY = join(REPO_ROOT, 'gateway', 'src', 'main.ts');

/** What the fault scenario needs besides the running stack. */
export interface FaultContext {
  plan: BenchPlan;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Told about the extra gateway process (and `undefined` once it is stopped), for the SIGINT handler. */
  onProcess?: (child: ChildProcess | undefined) => void;
}

interface Answer {
  data?: {
    user?: {
      firstName?: string | null;
      email?: string | null;
      recentlyViewed?: unknown[] | null;
      recommendations?: ({ reason?: string; product?: { inStock?: boolean } | null } | null)[] | null;
    } | null;
  } | null;
  errors?: { message?: string }[];
  extensions?: { degraded?: string[] };
}

/** How one answer of the workload reads. */
export interface Assessment {
  /** 200 with the recipient's profile (firstName, email) and exactly 4 recommendations, all in stock. */
  usable: boolean;
  /** Carries personal recommendations: a reason other than TRENDING, or not degraded with recent views. */
  personal: boolean;
  /** `extensions.degraded` is present. */
  degraded: boolean;
  /** Why it is not usable, for the report. */
  problem?: string;
}

/** Judges one answer of `PersonalizeRecipient` (status and body text). */
export function assessAnswer(status: number, text: string): Assessment {
  let body: Answer;
  try {
    body = JSON.parse(text) as Answer;
  } catch {
    return { usable: false, personal: false, degraded: false, problem: `HTTP ${status}, not JSON: ${text.slice(0, 80)}` };
  }
  const degraded = Array.isArray(body.extensions?.degraded);
  const user = body.data?.user;
  const recommendations = Array.isArray(user?.recommendations) ? user.recommendations : [];
  const personal =
    recommendations.some((r) => r?.reason !== undefined && r.reason !== 'TRENDING') || (!degraded && Array.isArray(user?.recentlyViewed) && user.recentlyViewed.length > 0);
  let problem: string | undefined;
  if (status !== 200) problem = `HTTP ${status}${body.errors?.[0]?.message ? `: ${body.errors[0].message}` : ''}`;
  else if (!user) problem = `no data.user${body.errors?.[0]?.message ? `: ${body.errors[0].message}` : ''}`;
  else if (!user.firstName || !user.email) problem = 'no firstName or email';
  else if (recommendations.length !== 4) problem = `${recommendations.length} recommendations${degraded ? ` (degraded: ${body.extensions!.degraded!.join(', ')})` : ''}`;
  else if (!recommendations.every((r) => r?.product?.inStock === true)) problem = 'a recommendation not in stock';
  return { usable: problem === undefined, personal, degraded, problem };
}

/** The GraphQL endpoint of each subgraph the stack started, from the registry's routing paths. */
function subgraphEndpoints(stack: Stack): Record<string, string> {
  const endpoints: Record<string, string> = {};
  for (const entry of planStack()) {
    const service = stack.services[entry.name];
    endpoints[entry.name] = service ? `${service.url}${new URL(entry.routingUrl).pathname}` : (stack.remote[entry.name] ?? entry.routingUrl);
  }
  return endpoints;
}

/**
 * Spawns a gateway process on a free loopback port with `env`, over the data folder `dataDir` (its keys
 * and its development key); resolves once it reports that it listens.
 */
function startGatewayProcess(env: Record<string, string>, dataDir: string, log: (line: string) => void): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [...SERVICE_NODE_FLAGS, '--require', LOOPBACK_GUARD, '--import', 'tsx', GATEWAY_ENTRY, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  const lines: string[] = [];
  const onLine = (line: string) => {
    if (lines.length < 50) lines.push(line);
    log(`  [fault gateway] ${line}`);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('The fault scenario\'s gateway did not start listening within 60 s'));
    }, 60_000);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`The fault scenario's gateway exited during start-up (${signal ?? `code ${code}`}):\n${lines.join('\n')}`));
    };
    child.once('exit', onExit);
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message?.type !== 'listening' || !message.url) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({ child, url: message.url });
    });
  });
}

/** Sends `body` to `url` once, with the client key `credential`, and judges the answer. */
async function askOnce(url: string, credential: string, body: string): Promise<Assessment & { status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: requestHeaders(credential), body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { ...assessAnswer(response.status, text), status: response.status, text };
}

/**
 * The recipient the recovery poller asks for: the first demo user whose healthy answer is usable, not
 * degraded, with recent views and a recommendation other than TRENDING (so that "personal again" is
 * visible in its answer).
 */
async function pickRecipient(url: string, credential: string, ids: string[], hash: string): Promise<{ id: string; reasons: string[] }> {
  for (const id of ids.slice(0, 50)) {
    const answer = await askOnce(url, credential, persistedBody(hash, { id }));
    if (!answer.usable || answer.degraded) continue;
    const user = (JSON.parse(answer.text) as Answer).data!.user!;
    const reasons = (user.recommendations ?? []).map((r) => r?.reason ?? 'null');
    if (reasons.some((r) => r !== 'TRENDING') && (user.recentlyViewed?.length ?? 0) > 0) return { id, reasons };
  }
  throw new Error('No demo user among the first 50 has a healthy answer with personal recommendations: the recovery cannot be timed');
}

/** Runs the workload once at the scenario's settings, judging every answer. */
async function measuredRun(url: string, credential: string, ids: string[], plan: BenchPlan['fault'], durationSeconds: number, signal: AbortSignal): Promise<FaultRun> {
  const counts = { answers: 0, usable: 0, degraded: 0, personal: 0 };
  const problems = new Map<string, number>();
  const run = await runSingle({
    url,
    credential,
    ids,
    connections: plan.connections,
    durationSeconds,
    timeoutSeconds: plan.timeoutSeconds,
    signal,
    inspect: (status, body) => {
      const a = assessAnswer(status, body);
      counts.answers++;
      if (a.usable) counts.usable++;
      if (a.degraded) counts.degraded++;
      if (a.personal) counts.personal++;
      if (a.problem && (problems.has(a.problem) || problems.size < 10)) problems.set(a.problem, (problems.get(a.problem) ?? 0) + 1);
    },
  });
  // Connection errors and time-outs got no answer at all: they count against the usable share.
  const asked = counts.answers + run.errors;
  return {
    ...run,
    ...counts,
    usableShare: asked > 0 ? counts.usable / asked : Number.NaN,
    problems: [...problems].map(([problem, count]) => `${count} × ${problem}`),
  };
}

/**
 * Heals behavior and times the first personal answer: one request every `pollIntervalMs` from the
 * moment the proxy passes through again, each sent without waiting for the previous one.
 */
async function timeRecovery(proxy: FaultProxy, url: string, credential: string, body: string, plan: BenchPlan['fault']): Promise<RecoveryCycle> {
  const healedAt = performance.now();
  await proxy.set({ kind: 'pass' });
  return new Promise((resolve) => {
    let polls = 0;
    let answers = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (cycle: RecoveryCycle) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(cycle);
    };
    const poll = () => {
      if (done) return;
      const sentMs = performance.now() - healedAt;
      if (sentMs > plan.recoveryTimeoutMs) return finish({ recoveredMs: null, sentMs: null, polls, answers });
      polls++;
      askOnce(url, credential, body).then(
        (answer) => {
          answers++;
          if (answer.personal) finish({ recoveredMs: performance.now() - healedAt, sentMs, polls, answers });
        },
        () => undefined,
      );
    };
    poll();
    timer = setInterval(poll, plan.pollIntervalMs);
  });
}

/**
 * Runs the fault scenario against `stack`'s subgraphs: starts a fault proxy in front of behavior and a
 * gateway routed through it, measures the healthy runs, then the slowed runs with a heal after each,
 * and always stops the gateway and the proxy.
 */
export async function runFaultScenario(stack: Stack, context: FaultContext): Promise<FaultResult> {
  const { plan, signal, log } = context;
  const settings = plan.fault;
  // The deadline the gateway applies: it inherits this environment, the benchmark sets none.
  const deadlineMs = gatewaySettings.requestDeadlineMs.schema.parse(process.env.TAILOR_REQUEST_DEADLINE_MS);
  const endpoints = subgraphEndpoints(stack);
  const behaviorBase = new URL(endpoints.behavior);
  const proxy = await startFaultProxy(`${behaviorBase.protocol}//${behaviorBase.host}`);
  // The gateway's keys and development key, in a folder of its own, deleted at the end.
  const dataDir = mkdtempSync(join(tmpdir(), 'tailor-bench-fault-'));
  let gateway: ChildProcess | undefined;
  try {
    const routes = { ...endpoints, behavior: `${proxy.url}${behaviorBase.pathname}` };
    const env = {
      ...variantEnv('tailor', plan.demoScale),
      TAILOR_WATCH_SUPERGRAPH: 'false',
      TAILOR_SUBGRAPH_URLS: Object.entries(routes).map(([name, u]) => `${name}=${u}`).join(','),
      // The stack's subgraphs answer a gateway that signs with the stack's secret only.
      TAILOR_SUBGRAPH_SECRET: stack.subgraphSecret,
    };
    log(`\n== fault: a gateway of its own, behavior through a fault proxy (${proxy.url}) …`);
    const started = await startGatewayProcess(env, dataDir, (line) => process.stderr.write(`${line}\n`));
    gateway = started.child;
    context.onProcess?.(gateway);
    const url = `${started.url}/graphql`;
    assertLoopback(url);
    const credential = readDevKey(dataDir);
    if (!credential) throw new Error(`The fault scenario's gateway made no development key in ${dataDir}/dev-key: the benchmark needs a client key with every scope`);
    const ids = demoIds(plan.userCount);
    const hash = persistedHash('PersonalizeRecipient');
    const recipient = await pickRecipient(url, credential, ids, hash);
    log(`   gateway ${url}; deadline ${deadlineMs} ms; recovery poller asks for ${recipient.id} (healthy reasons ${recipient.reasons.join(', ')})`);

    const describe = (run: FaultRun) =>
      `${Math.round(run.requestsPerSecond)} req/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, max ${run.maxMs.toFixed(0)} ms, ` +
      `usable ${(run.usableShare * 100).toFixed(2)}% (${run.usable}/${run.answers + run.errors}), degraded ${run.degraded}, errors ${run.errors}` +
      (run.problems.length > 0 ? `; not usable: ${run.problems.join(' | ')}` : '');
    log(`   healthy: warm-up ${settings.warmupSeconds} s at ${settings.connections} connections …`);
    const warmup = await measuredRun(url, credential, ids, settings, settings.warmupSeconds, signal);
    const healthyRuns: FaultRun[] = [];
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      const run = await measuredRun(url, credential, ids, settings, settings.durationSeconds, signal);
      healthyRuns.push(run);
      log(`   healthy run ${rep}/${plan.repetitions}: ${describe(run)}`);
    }

    const slowRuns: FaultRun[] = [];
    const cycles: RecoveryCycle[] = [];
    const pollBody = persistedBody(hash, { id: recipient.id });
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      await proxy.set({ kind: 'slow', delayMs: settings.slowMs });
      const run = await measuredRun(url, credential, ids, settings, settings.durationSeconds, signal);
      slowRuns.push(run);
      log(`   behavior slowed to ${settings.slowMs} ms, run ${rep}/${plan.repetitions}: ${describe(run)}`);
      if (signal.aborted) break;
      const cycle = await timeRecovery(proxy, url, credential, pollBody, settings);
      cycles.push(cycle);
      log(
        cycle.recoveredMs !== null
          ? `   healed: first personal answer ${cycle.recoveredMs.toFixed(0)} ms after the heal (sent at +${cycle.sentMs!.toFixed(0)} ms; poll ${cycle.polls})`
          : `   healed: no personal answer within ${settings.recoveryTimeoutMs} ms (${cycle.polls} polls, ${cycle.answers} answers)`,
      );
    }

    const medians = (runs: FaultRun[]) => ({
      requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
    });
    const share = (runs: FaultRun[]) => {
      const asked = runs.reduce((t, r) => t + r.answers + r.errors, 0);
      return asked > 0 ? runs.reduce((t, r) => t + r.usable, 0) / asked : Number.NaN;
    };
    const healthy = medians(healthyRuns);
    const slowed = medians(slowRuns);
    return {
      connections: settings.connections,
      durationSeconds: settings.durationSeconds,
      slowMs: settings.slowMs,
      deadlineMs,
      pollIntervalMs: settings.pollIntervalMs,
      recipient: recipient.id,
      gatewayEnv: env,
      healthy: { median: healthy, usableShare: share(healthyRuns), warmup, runs: healthyRuns },
      slowed: {
        median: slowed,
        usableShare: share(slowRuns),
        p50MinusDeadlineMs: slowed.p50Ms - deadlineMs,
        p99MinusDeadlineMs: slowed.p99Ms - deadlineMs,
        runs: slowRuns,
      },
      ratios: { p50: slowed.p50Ms / healthy.p50Ms, p99: slowed.p99Ms / healthy.p99Ms, requestsPerSecond: slowed.requestsPerSecond / healthy.requestsPerSecond },
      // A cycle that never recovered counts as infinitely long.
      recovery: { medianMs: median(cycles.map((c) => c.recoveredMs ?? Number.POSITIVE_INFINITY)), cycles },
      proxyRequests: proxy.counts().requests,
    };
  } finally {
    if (gateway) await stopProcess(gateway);
    context.onProcess?.(undefined);
    await proxy.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
