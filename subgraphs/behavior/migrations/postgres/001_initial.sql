-- Ids, SKUs and types are compared and ordered byte-wise (COLLATE "C"), as SQLite's BINARY does,
-- whatever the database's default collation; it is also the cheapest collation to index.
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL,
  sku TEXT COLLATE "C" NOT NULL,
  type TEXT COLLATE "C" NOT NULL,
  occurred_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events(user_id, occurred_at);
CREATE INDEX IF NOT EXISTS events_by_type_time ON events(type, occurred_at, sku);
CREATE TABLE IF NOT EXISTS coviews (
  sku_a TEXT COLLATE "C" NOT NULL,
  sku_b TEXT COLLATE "C" NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (sku_a, sku_b)
);
