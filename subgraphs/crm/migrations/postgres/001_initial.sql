-- Keys are compared and ordered byte-wise (COLLATE "C"), as SQLite's BINARY does, whatever the
-- database's default collation; it is also the cheapest collation to index.
CREATE TABLE IF NOT EXISTS users (
  id TEXT COLLATE "C" PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT COLLATE "C" NOT NULL UNIQUE,
  first_name TEXT,
  last_name TEXT,
  locale TEXT NOT NULL,
  timezone TEXT,
  loyalty_tier TEXT NOT NULL,
  segments JSONB NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS consents (
  user_id TEXT COLLATE "C" PRIMARY KEY REFERENCES users(id),
  email BOOLEAN NOT NULL,
  personalization BOOLEAN NOT NULL,
  updated_at BIGINT NOT NULL
);
