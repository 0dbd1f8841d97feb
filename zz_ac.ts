import autocannon from 'autocannon';
import { startInProcessStack } from './tests/support/inProcessStack';
(async () => {
  const s = await startInProcessStack({ seed: 'demo' });
  for (const body of [JSON.stringify({ query: '{ __typename }' })]) {
    for (let i = 0; i < 5; i++) { const t = performance.now(); await (await fetch(`${s.urls.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text(); console.log('fetch ms', (performance.now() - t).toFixed(1)); }
  }
  const r = await autocannon({ url: `${s.urls.gateway}/health`, connections: 4, duration: 2 });
  console.log('health', r.requests.total, JSON.stringify(r.latency.p50));
  await s.close();
})();
