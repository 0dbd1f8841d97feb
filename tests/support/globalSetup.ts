import { createTestLogDir } from './testLogs';

/** Before any test file: the folder that collects the run's log lines. */
export default function globalSetup(): void {
  createTestLogDir();
}
