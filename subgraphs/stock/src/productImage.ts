import type { CatalogProduct } from './stockStore';

const PALETTE = ['#f4d6cc', '#d7e3f4', '#e3f1d9', '#f6ecc9', '#e8daf0', '#d5efec', '#f3dbe6', '#e6e2da'];

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A placeholder product picture as SVG: the demo catalog's images are served by the stock service
 * itself, so a rendered email shows pictures with no internet access.
 */
export function productImageSvg(product: CatalogProduct): string {
  const hash = [...product.sku].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const background = PALETTE[hash % PALETTE.length];
  const words = product.name.split(' ');
  const lines = [words.slice(0, Math.ceil(words.length / 2)).join(' '), words.slice(Math.ceil(words.length / 2)).join(' ')];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400" role="img" aria-label="${escapeXml(product.name)}">
<rect width="400" height="400" fill="${background}"/>
<circle cx="200" cy="160" r="84" fill="#ffffff" fill-opacity="0.55"/>
<text x="200" y="172" font-family="Georgia, serif" font-size="40" text-anchor="middle" fill="#3a3a46">${escapeXml(product.category.slice(0, 1))}</text>
<text x="200" y="292" font-family="Helvetica, Arial, sans-serif" font-size="22" text-anchor="middle" fill="#2b2b36">${escapeXml(lines[0])}</text>
<text x="200" y="322" font-family="Helvetica, Arial, sans-serif" font-size="22" text-anchor="middle" fill="#2b2b36">${escapeXml(lines[1])}</text>
<text x="200" y="360" font-family="Helvetica, Arial, sans-serif" font-size="16" text-anchor="middle" fill="#6b6b78">${escapeXml(product.brand)} · ${escapeXml(product.sku)}</text>
</svg>
`;
}
