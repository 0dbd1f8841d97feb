import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// The alert rules and the dashboard under ops/ name metrics by string; nothing else ties them to the
// code. This suite reads every PromQL expression of both and checks each metric it names against what
// the real processes serve at /metrics.

const ROOT = join(__dirname, '..');
const RULES_FILE = join(ROOT, 'ops', 'prometheus', 'tailor-alerts.yml');
const DASHBOARD_FILE = join(ROOT, 'ops', 'grafana', 'tailor-dashboard.json');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr?: string; datasource?: { type: string; uid: string } }[];
  panels?: Panel[];
}

const PROMQL_KEYWORDS = new Set([
  'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2',
]);

/**
 * The metric names of a PromQL expression: identifiers that are not functions (followed by `(`),
 * keywords, label names (inside `{…}`, `by (…)`, `on (…)`…), strings, durations or Grafana variables.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.:$])[A-Za-z_:][\w:]*(?!\s*\()/g)) {
    const name = m[0];
    // Backtracking can stop a function name short of its `(`: `rate(` must not yield `rat`.
    if (/^[\w:]/.test(bare.slice(m.index! + name.length))) continue;
    if (PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** The series names a scrape offers: each `# TYPE` name, plus `_bucket`/`_sum`/`_count` for histograms. */
function seriesNames(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

const rulesDoc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const rules = rulesDoc.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Record<string, any> & { panels: Panel[] };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const dashboardExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));

const namesIn = (exprs: string[]) => [...new Set(exprs.flatMap(metricNames))].sort();
const ruleMetrics = namesIn(rules.map((r) => r.expr));
const dashboardMetrics = namesIn(dashboardExprs.map((t) => t.expr));

describe('the metric-name parser', () => {
  it('finds metric names and leaves out functions, keywords, label names, values and durations', () => {
    expect(
      metricNames(
        'sum by (subgraph) (rate(tailor_a_total{service="gateway",reason!="x_total"}[5m])) / on (subgraph) group_left ' +
          'sum without (le) (increase(other_metric[$__rate_interval] offset 1h)) > bool 0.05 and up unless clamp_min(b:c, 1e-9)',
      ).sort(),
    ).toEqual(['b:c', 'other_metric', 'tailor_a_total', 'up']);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket{route="/graphql"}[5m])))')).toEqual(['x_bucket']);
  });

  it('finds every tailor_ name a plain token search finds, in the rules and in the dashboard', () => {
    const tokens = (exprs: string[]) => [...new Set(exprs.flatMap((e) => e.match(/\btailor_[a-z0-9_]+/g) ?? []))].sort();
    expect(ruleMetrics).toEqual(tokens(rules.map((r) => r.expr)));
    expect(dashboardMetrics).toEqual(tokens(dashboardExprs.map((t) => t.expr)));
  });
});

describe('ops/prometheus/tailor-alerts.yml', () => {
  it('has alerts with an expression, a duration, a severity and annotations that say what to look at', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect({ alert: rule.alert, expr: typeof rule.expr }).toEqual({ alert: expect.stringMatching(/^Tailor[A-Za-z0-9]+$/), expr: 'string' });
      expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary?.length).toBeGreaterThan(10);
      expect(rule.annotations?.description?.length).toBeGreaterThan(50);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('covers fetch errors, latency, circuits, shedding, degradation, capacity and ingestion', () => {
    expect(ruleMetrics).toEqual(
      expect.arrayContaining([
        'tailor_subgraph_fetch_failures_total',
        'tailor_subgraph_fetches_total',
        'tailor_http_request_duration_seconds_bucket',
        'tailor_http_request_duration_seconds_count',
        'tailor_subgraph_circuit_state',
        'tailor_requests_shed_total',
        'tailor_degraded_responses_total',
        'tailor_unusable_responses_total',
        'tailor_ingest_items_total',
      ]),
    );
    const capacity = rules.find((r) => /queue_timeout/.test(r.expr) && /queue_full/.test(r.expr));
    expect(capacity?.annotations?.description).toMatch(/quota/i);
    const latency = rules.filter((r) => r.expr.includes('tailor_http_request_duration_seconds_bucket'));
    expect(latency.length).toBeGreaterThan(0);
    for (const rule of latency) expect(rule.annotations?.description).toContain('TAILOR_REQUEST_DEADLINE_MS');
  });
});

describe('ops/grafana/tailor-dashboard.json', () => {
  it('queries a ${datasource} Prometheus variable, with core panels only and no external links', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' })]));
    expect(dashboard.links ?? []).toEqual([]);
    expect(JSON.stringify(dashboard)).not.toMatch(/https?:\/\//);
    const core = new Set(['row', 'timeseries', 'state-timeline', 'stat', 'gauge', 'bargauge', 'table', 'text', 'heatmap']);
    for (const panel of panels) {
      expect({ title: panel.title, type: core.has(panel.type) }).toEqual({ title: panel.title, type: true });
      if (panel.type === 'row') continue;
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.expr?.trim()).toBeTruthy();
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it('shows the same signals, plus database statements and the cache hit ratio', () => {
    expect(dashboardMetrics).toEqual(expect.arrayContaining([...ruleMetrics, 'tailor_db_statements_total', 'tailor_cache_requests_total']));
    const latency = panels.find((p) => p.targets?.some((t) => t.expr?.includes('histogram_quantile(0.99') && t.expr.includes('route="/graphql"')));
    expect(latency?.targets?.some((t) => t.expr?.includes('histogram_quantile(0.5'))).toBe(true);
    const steps = (latency as any)?.fieldConfig.defaults.thresholds.steps as { value: number | null }[];
    expect(steps.map((s) => s.value)).toContain(1.5);
    expect((latency as any)?.fieldConfig.defaults.custom.thresholdsStyle.mode).toBe('line');
  });
});

describe('metrics named under ops/', () => {
  let stack: InProcessStack;
  let offered: Set<string>;
  beforeAll(async () => {
    stack = await startInProcessStack();
    offered = new Set();
    for (const url of Object.values(stack.urls)) {
      const response = await fetch(`${url}/metrics`);
      expect(response.status).toBe(200);
      for (const name of seriesNames(await response.text())) offered.add(name);
    }
  });
  afterAll(() => stack?.close());

  it('are each served at /metrics by the gateway or a subgraph', () => {
    expect(offered.has('tailor_http_request_duration_seconds_bucket')).toBe(true);
    expect(ruleMetrics.filter((name) => !offered.has(name))).toEqual([]);
    expect(dashboardMetrics.filter((name) => !offered.has(name))).toEqual([]);
  });
});

describe('promtool', () => {
  const promtool = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'promtool'))
    .find((file) => spawnSync(file, ['--version']).status === 0);

  it('accepts the rules file and the dashboard queries, when it is installed', () => {
    if (!promtool) {
      console.log('promtool is not on PATH: `promtool check rules ops/prometheus/tailor-alerts.yml` did not run (CI installs it).');
      return;
    }
    const rulesCheck = spawnSync(promtool, ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
    expect({ status: rulesCheck.status, output: rulesCheck.stdout + rulesCheck.stderr }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    // The dashboard's queries, as recording rules with Grafana's $__rate_interval filled in.
    const dir = mkdtempSync(join(tmpdir(), 'tailor-ops-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      const recorded = dashboardExprs.map((t, i) => ({ record: `tailor_dashboard:query${i}`, expr: t.expr.replaceAll('$__rate_interval', '5m') }));
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
      const queriesCheck = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
      expect({ status: queriesCheck.status, output: queriesCheck.stdout + queriesCheck.stderr }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
