// Preloaded (`node --require`) into every process by `bench/profile.ts --memory`: every 100 ms, the main
// thread samples `process.memoryUsage()` and V8's heap spaces, and keeps each one's peak over the
// process's life in `$TAILOR_HEAP_SAMPLES_DIR/heap-<pid>.json` (rewritten when a peak grows, and at exit).
// Without that variable, or in a worker thread, it does nothing.
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { getHeapSpaceStatistics } = require('node:v8');
const { isMainThread } = require('node:worker_threads');

const dir = process.env.TAILOR_HEAP_SAMPLES_DIR;
if (dir && isMainThread) {
  const file = join(dir, `heap-${process.pid}.json`);
  const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0, spaces: {} };
  let samples = 0;
  const write = () => writeFileSync(file, JSON.stringify({ pid: process.pid, samples, peaks }));
  const sample = () => {
    samples++;
    let grew = false;
    const usage = process.memoryUsage();
    for (const key of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers']) {
      if (usage[key] > peaks[key]) {
        peaks[key] = usage[key];
        grew = true;
      }
    }
    for (const space of getHeapSpaceStatistics()) {
      if (space.space_size > (peaks.spaces[space.space_name] ?? 0)) {
        peaks.spaces[space.space_name] = space.space_size;
        grew = true;
      }
    }
    if (grew) write();
  };
  sample();
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    write();
  });
}
