CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  first_name TEXT,
  last_name TEXT,
  locale TEXT NOT NULL,
  timezone TEXT,
  loyalty_tier TEXT NOT NULL,
  segments TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS consents (
  user_id TEXT PRIMARY KEY REFERENCES users(id),
  email INTEGER NOT NULL,
  personalization INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
