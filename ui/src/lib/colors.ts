// A service keeps its colour everywhere and across reloads: the colour comes from a hash of its
// name, not from the order services happen to appear in.
const PALETTE = [
  '#3b7dd8', '#e07b39', '#3aa655', '#c94f7c', '#8a63d2', '#1b9aaa', '#c9a227', '#d1495b',
  '#5c8001', '#7f5539', '#2e86ab', '#b5651d', '#6a4c93', '#00917c', '#9c6644', '#4361ee',
];

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function serviceColor(service: string): string {
  return PALETTE[fnv1a(service) % PALETTE.length];
}
