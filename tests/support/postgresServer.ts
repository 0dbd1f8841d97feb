import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The machine's PostgreSQL (trust auth), on which the PostgreSQL suites create databases of their own. */
export const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database made for one suite: its URL, and `drop()` to remove it with everything in it. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin(): Promise<Client> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `These tests need PostgreSQL at ${POSTGRES_ADMIN_URL} (${(error as Error).message}): start it, e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  return client;
}

/** Creates an empty database with a unique name (`tailor_test_<label>_<random>`), so runs never collide. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `tailor_test_${label.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const client = await admin();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      const c = await admin();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
