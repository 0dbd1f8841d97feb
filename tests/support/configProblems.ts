import { ConfigError } from '../../kit/config';

/** The problems of the `ConfigError` that `load` throws; `[]` when it loads. Any other error is rethrown. */
export function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
