-- SKUs are compared and ordered byte-wise (COLLATE "C"), as SQLite's BINARY does, whatever the
-- database's default collation; it is also the cheapest collation to index.
CREATE TABLE IF NOT EXISTS products (
  sku TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  brand TEXT NOT NULL,
  category TEXT NOT NULL,
  price_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  image_url TEXT NOT NULL,
  url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_levels (
  sku TEXT COLLATE "C" PRIMARY KEY REFERENCES products(sku),
  available INTEGER NOT NULL,
  observed_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_levels_in_stock ON stock_levels(available, sku);
CREATE TABLE IF NOT EXISTS trending_ranking (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  entries JSONB NOT NULL,
  fetched_at BIGINT NOT NULL,
  max_age_ms BIGINT NOT NULL
);
