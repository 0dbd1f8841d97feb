CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  sku TEXT NOT NULL,
  type TEXT NOT NULL,
  occurred_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events(user_id, occurred_at);
CREATE INDEX IF NOT EXISTS events_by_type_time ON events(type, occurred_at, sku);
CREATE TABLE IF NOT EXISTS coviews (
  sku_a TEXT NOT NULL,
  sku_b TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (sku_a, sku_b)
) WITHOUT ROWID;
