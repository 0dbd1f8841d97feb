CREATE TABLE IF NOT EXISTS products (
  sku TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  brand TEXT NOT NULL,
  category TEXT NOT NULL,
  price_cents INTEGER NOT NULL,
  currency TEXT NOT NULL,
  image_url TEXT NOT NULL,
  url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_levels (
  sku TEXT PRIMARY KEY REFERENCES products(sku),
  available INTEGER NOT NULL,
  observed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_levels_in_stock ON stock_levels(available, sku);
CREATE TABLE IF NOT EXISTS trending_ranking (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  entries TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  max_age_ms INTEGER NOT NULL
);
