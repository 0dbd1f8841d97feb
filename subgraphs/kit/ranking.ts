/** Orders scored items by score, highest first, then by SKU, so equal scores keep a stable order. */
export function byScoreThenSku(a: { sku: string; score: number }, b: { sku: string; score: number }): number {
  return b.score - a.score || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);
}
