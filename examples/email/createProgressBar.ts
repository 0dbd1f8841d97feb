/** Where progress goes: `process.stdout`, or anything with `write` (a test's collector). */
export interface ProgressOutput {
  write(text: string): unknown;
  /** True for a terminal: one progress bar redrawn in place; otherwise one plain line per batch. */
  isTTY?: boolean;
  /** Terminal width, to size the bar. */
  columns?: number;
}

/** Reports how many recipients are done. */
export interface ProgressBar {
  /** Called after each finished batch with the recipients done so far. */
  update(done: number): void;
  /** Called once at the end with the final count. */
  finish(done: number): void;
}

/**
 * On a TTY, one line redrawn in place (at most ten times a second): bar, count, rate and ETA.
 * Elsewhere, one plain line per finished batch.
 */
export function createProgressBar(output: ProgressOutput | null, total: number, batches: number, now: () => number): ProgressBar {
  if (!output) return { update() {}, finish() {} };
  const started = now();
  let finished = 0;
  let lastDraw = -Infinity;
  const stats = (done: number) => {
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (total - done) / rate : undefined;
    return { rate, eta, percent: Math.floor((done / total) * 100) };
  };
  const numbers = (done: number) => {
    const { rate, eta, percent } = stats(done);
    return `${done}/${total} recipients (${percent}%), ${rate.toFixed(1)} recipients/s, ETA ${eta === undefined ? '?' : formatDuration(eta)}`;
  };
  if (output.isTTY) {
    const draw = (done: number) => {
      const { percent } = stats(done);
      const text = numbers(done);
      const width = Math.max(10, Math.min(30, (output.columns ?? 80) - text.length - 4));
      const filled = Math.round((width * percent) / 100);
      output.write(`\r\x1b[2K[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${text}`);
      lastDraw = now();
    };
    draw(0);
    return {
      update(done) {
        if (now() - lastDraw >= 100) draw(done);
      },
      finish(done) {
        draw(done);
        output.write('\n');
      },
    };
  }
  return {
    update(done) {
      finished++;
      output.write(`batch ${finished}/${batches}: ${numbers(done)}\n`);
    },
    finish() {},
  };
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
