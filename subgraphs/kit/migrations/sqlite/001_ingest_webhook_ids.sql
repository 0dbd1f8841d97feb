CREATE TABLE IF NOT EXISTS ingest_webhook_ids (
  id TEXT PRIMARY KEY,
  timestamp INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ingest_webhook_ids_by_timestamp ON ingest_webhook_ids (timestamp);
