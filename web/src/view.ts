// The view <-> URL fragment <-> tile pyramid mapping of docs/api.md
// ("Tiles", "Web client", "Deep zoom"). Pure functions: unit-tested in view.test.ts.
//
// The centre and scale are exact decimal text (exact.ts), so the explorer goes
// as deep as the tiles do (docs/api.md: tiles with z > 38 compute their centre
// exactly from z, x, y). Leaflet works in doubles, so it sees the plane through
// a Frame: coordinates relative to an exact anchor (a tile corner at level z0),
// magnified by 2^z0, and Leaflet zoom l shows pyramid level z0 + l. The
// explorer moves the frame (rebases) as the view goes deeper, so Leaflet only
// ever handles numbers near the anchor.

import {
  add, dec, floorDec, formatDec, fromNumber, log10Abs, mulPow2, parseDec, roundTo, sub, toNumber, type Dec,
} from './exact';

export type Fractal = 'mandelbrot' | 'julia';
export type Complex = [number, number];
export type ExactComplex = [string, string]; // [re, im] as decimal text

export interface View {
  fractal: Fractal;
  center: ExactComplex; // exact decimal text, kept as written
  scale: string; // width of the visible view in the complex plane, decimal text (> 0)
  maxIter: number;
  palette: string;
  juliaC: Complex | null; // required for Julia, null for Mandelbrot
}

export const TILE_SIZE = 256;
export const PYRAMID_SIDE = 4; // level 0 covers a 4 x 4 square
export const DOUBLE_TILE_ZOOM = 38; // the deepest level double resolves; deeper tiles render with precision deep
export const MAX_TILE_ZOOM = 33219; // 4 / 2^z stays above 1e-10000 (docs/api.md: zoom_too_deep below)
export const DEFAULT_JULIA_C: Complex = [-0.8, 0.156];

const LOG10_2 = Math.log10(2);

export function origin(fractal: Fractal): Complex {
  return fractal === 'mandelbrot' ? [-0.5, 0] : [0, 0];
}
function originDec(fractal: Fractal): [Dec, Dec] {
  return fractal === 'mandelbrot' ? [dec(-5n, -1), dec(0n)] : [dec(0n), dec(0n)];
}

export function defaultScale(fractal: Fractal): number {
  return fractal === 'mandelbrot' ? 3.0 : 3.2;
}

export function defaultView(fractal: Fractal = 'mandelbrot'): View {
  return {
    fractal,
    center: fractal === 'mandelbrot' ? ['-0.5', '0'] : ['0', '0'],
    scale: String(defaultScale(fractal)),
    maxIter: 500,
    palette: 'classic',
    juliaC: fractal === 'julia' ? DEFAULT_JULIA_C : null,
  };
}

function decOf(text: string): Dec {
  const d = parseDec(text);
  if (!d) throw new RangeError(`not a decimal: ${text}`);
  return d;
}

// Pixels per unit of the complex plane at (fractional) zoom z: level z of
// the pyramid is 256 * 2^z pixels across 4 units.
export function pixelsPerUnit(zoom: number): number {
  return (TILE_SIZE * 2 ** zoom) / PYRAMID_SIDE;
}

// log2 of a positive decimal, also far below 1e-308.
export function log2Decimal(text: string): number {
  return log10Abs(decOf(text)) / LOG10_2;
}

// Zoom of a viewport `widthPx` wide showing `scale`, and back. The scale is
// written with 12 significant digits (exact powers of two come out exact).
export function zoomForScale(widthPx: number, scale: string | number): number {
  const log2Scale = typeof scale === 'number' ? Math.log2(scale) : log2Decimal(scale);
  return Math.log2((widthPx * PYRAMID_SIDE) / TILE_SIZE) - log2Scale;
}
export function scaleForZoom(widthPx: number, zoom: number): string {
  if (zoom < 900) return formatScale(widthPx / pixelsPerUnit(zoom));
  const l = Math.log10(widthPx / 64) - zoom * LOG10_2;
  const e = Math.floor(l);
  let m = Number((10 ** (l - e)).toPrecision(12));
  let exp = e;
  if (m >= 10) {
    m /= 10;
    exp += 1;
  }
  return `${m}e${exp}`;
}
export function formatScale(scale: number): string {
  return Number(scale.toPrecision(12)).toString();
}

// The exact centre of tile (z, x, y) as docs/api.md defines it; its scale is 4 / 2^z:
// re = origin.re - 2 + (2x + 1) * 2 / 2^z, im = origin.im + 2 - (2y + 1) * 2 / 2^z.
export function tileCenter(fractal: Fractal, z: number, x: bigint, y: bigint): ExactComplex {
  const [ore, oim] = originDec(fractal);
  const re = add(add(ore, dec(-2n)), mulPow2(dec(2n * x + 1n), 1 - z));
  const im = sub(add(oim, dec(2n)), mulPow2(dec(2n * y + 1n), 1 - z));
  return [formatDec(re), formatDec(im)];
}

// The tile (x, y) of level z holding point c, or null outside the pyramid.
export function tileAt(fractal: Fractal, z: number, c: ExactComplex): [bigint, bigint] | null {
  const [ore, oim] = originDec(fractal);
  const x = floorDec(mulPow2(sub(decOf(c[0]), add(ore, dec(-2n))), z - 2));
  const y = floorDec(mulPow2(sub(add(oim, dec(2n)), decOf(c[1])), z - 2));
  const n = 1n << BigInt(z);
  if (x < 0n || y < 0n || x >= n || y >= n) return null;
  return [x, y];
}

// --- the frame Leaflet sees ---------------------------------------------------

// Leaflet coordinates: lng = (re - anchor.re) * 2^z0, lat = (im - anchor.im) * 2^z0,
// with anchor = the top-left corner of tile (z0, kx, ky). With the CRS
// transformation (64, 0, -64, 0), Leaflet's tile (l, tx, ty) is then exactly
// pyramid tile (z0 + l, kx * 2^l + tx, ky * 2^l + ty).
export interface Frame {
  fractal: Fractal;
  z0: number;
  kx: bigint;
  ky: bigint;
}

// Levels of zoom the frame keeps below the view (Leaflet zoom l >= FRAME_MARGIN).
export const FRAME_MARGIN = 16;

export function frameAnchor(f: Frame): [Dec, Dec] {
  const [ore, oim] = originDec(f.fractal);
  return [
    add(add(ore, dec(-2n)), mulPow2(dec(f.kx), 2 - f.z0)),
    sub(add(oim, dec(2n)), mulPow2(dec(f.ky), 2 - f.z0)),
  ];
}

// The frame for a view at `zoom` around c: level max(0, floor(zoom) - 16), anchored
// at the corner of the tile of that level holding c (clamped into the pyramid).
export function frameFor(fractal: Fractal, c: ExactComplex, zoom: number): Frame {
  const z0 = Math.max(0, Math.min(MAX_TILE_ZOOM, Math.floor(zoom) - FRAME_MARGIN));
  if (z0 === 0) return { fractal, z0, kx: 0n, ky: 0n };
  const [ore, oim] = originDec(fractal);
  const n = 1n << BigInt(z0);
  const clamp = (v: bigint) => (v < 0n ? 0n : v >= n ? n - 1n : v);
  const kx = clamp(floorDec(mulPow2(sub(decOf(c[0]), add(ore, dec(-2n))), z0 - 2)));
  const ky = clamp(floorDec(mulPow2(sub(add(oim, dec(2n)), decOf(c[1])), z0 - 2)));
  return { fractal, z0, kx, ky };
}

// Whether a view at `zoom` around Leaflet point (lat, lng) is still well served by f:
// Leaflet's zoom stays in [FRAME_MARGIN - 12, FRAME_MARGIN + 12] (or f is the root
// frame and the view is shallow) and pixel offsets from the anchor stay below 2^40.
export function frameFits(f: Frame, zoom: number, lat: number, lng: number): boolean {
  const l = zoom - f.z0;
  if (f.z0 === 0 ? l > FRAME_MARGIN + 12 : Math.abs(l - FRAME_MARGIN) > 12) return false;
  const px = 64 * 2 ** l * Math.max(Math.abs(lat), Math.abs(lng));
  return px < 2 ** 40;
}

export function toLocal(f: Frame, c: ExactComplex): [number, number] {
  const [are, aim] = frameAnchor(f);
  return [toNumber(mulPow2(sub(decOf(c[1]), aim), f.z0)), toNumber(mulPow2(sub(decOf(c[0]), are), f.z0))];
}

// The exact point of Leaflet's (lat, lng) in frame f.
export function fromLocal(f: Frame, lat: number, lng: number): [Dec, Dec] {
  const [are, aim] = frameAnchor(f);
  return [add(are, mulPow2(fromNumber(lng), -f.z0)), add(aim, mulPow2(fromNumber(lat), -f.z0))];
}

// Pyramid tile of Leaflet's tile (l, tx, ty) in frame f (l >= 0), or null outside the pyramid.
export function tileOfLocal(f: Frame, l: number, tx: number, ty: number): [number, bigint, bigint] | null {
  const z = f.z0 + l;
  const x = (f.kx << BigInt(l)) + BigInt(tx);
  const y = (f.ky << BigInt(l)) + BigInt(ty);
  const n = 1n << BigInt(z);
  if (l < 0 || x < 0n || y < 0n || x >= n || y >= n) return null;
  return [z, x, y];
}

// The pyramid's square [-2, 2]^2 around the origin in frame f's Leaflet
// coordinates [[south, west], [north, east]], clamped to what doubles hold.
export function pyramidBoundsLocal(f: Frame): [[number, number], [number, number]] {
  const big = 2 ** 900;
  if (f.z0 > 800) return [[-big, -big], [big, big]]; // tiles outside are skipped by tileOfLocal
  const side = 4 * 2 ** f.z0; // the whole square in frame units
  const west = -4 * Number(f.kx), north = 4 * Number(f.ky);
  return [[north - side, west], [north, west + side]];
}

// --- numbers as text --------------------------------------------------------

// A point rounded to what matters at this scale: about 8 digits below a pixel
// of a 1,000-pixel-wide view (the fragment, the readouts).
export function roundForScale(v: Dec, scale: string): string {
  const q = Math.floor(log10Abs(decOf(scale))) - 11;
  return formatDec(roundTo(v, q));
}

// Shortest decimal that keeps what matters at this scale (for doubles: Julia c, pointer).
export function formatNumber(v: number, scale = 1): string {
  if (!Number.isFinite(v)) return String(v);
  const digits = Math.min(17, Math.max(6, Math.ceil(-Math.log10(scale)) + 8));
  const s = Number(v.toPrecision(digits)).toString();
  return s === '-0' ? '0' : s;
}

export function formatComplex(c: Complex, scale = 1): string {
  return `${formatNumber(c[0], scale)},${formatNumber(c[1], scale)}`;
}

// "re,im" (spaces allowed; an optional trailing i on the second part), null when malformed.
export function parseComplex(text: string): Complex | null {
  const parts = text.trim().replace(/i$/, '').split(',');
  if (parts.length !== 2) return null;
  const [re, im] = parts.map((p) => (p.trim() === '' ? NaN : Number(p.trim())));
  if (!Number.isFinite(re) || !Number.isFinite(im)) return null;
  return [re, im];
}

// "re,im" as exact decimal text, kept as written (spaces trimmed), null when malformed.
export function parseExactComplex(text: string): ExactComplex | null {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2 || !parseDec(parts[0]) || !parseDec(parts[1])) return null;
  return [parts[0], parts[1]];
}

// A positive decimal no smaller than 1e-10000, kept as written; null otherwise.
export function parseScale(text: string): string | null {
  const t = text.trim();
  const d = parseDec(t);
  if (!d || d.m <= 0n || log10Abs(d) < -10000) return null;
  return t;
}

// The approximate double of a decimal (readouts, Julia c from a point).
export function approx(c: ExactComplex): Complex {
  return [Number(c[0]), Number(c[1])];
}

// --- fragment ------------------------------------------------------------------

// `#fractal=…&center=re,im&scale=…&max_iter=…&palette=…[&julia_c=re,im]`; the
// centre and scale are written exactly as the view holds them.
export function toFragment(v: View): string {
  const p: string[] = [
    `fractal=${v.fractal}`,
    `center=${v.center[0]},${v.center[1]}`,
    `scale=${v.scale}`,
    `max_iter=${v.maxIter}`,
    `palette=${encodeURIComponent(v.palette)}`,
  ];
  if (v.fractal === 'julia' && v.juliaC) p.push(`julia_c=${formatComplex(v.juliaC)}`);
  return '#' + p.join('&');
}

// The view a fragment describes; missing or malformed fields take the defaults
// of its fractal (a bad link still opens something sensible). `base` supplies
// fields the fragment leaves out when they belong to the same fractal.
export function fromFragment(hash: string, base?: View): View {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const fractalText = params.get('fractal');
  const fractal: Fractal =
    fractalText === 'julia' || fractalText === 'mandelbrot' ? fractalText : (base?.fractal ?? 'mandelbrot');
  const d = base && base.fractal === fractal ? base : defaultView(fractal);
  const v: View = { ...d };
  const center = params.get('center');
  if (center !== null) v.center = parseExactComplex(center) ?? d.center;
  const scale = params.get('scale');
  if (scale !== null) v.scale = parseScale(scale) ?? d.scale;
  const maxIter = Number(params.get('max_iter') ?? NaN);
  if (Number.isInteger(maxIter) && maxIter >= 1 && maxIter <= 1_000_000) v.maxIter = maxIter;
  const palette = params.get('palette');
  if (palette) v.palette = palette;
  if (fractal === 'julia') {
    const c = params.get('julia_c');
    v.juliaC = (c !== null ? parseComplex(c) : null) ?? d.juliaC ?? DEFAULT_JULIA_C;
  } else {
    v.juliaC = null;
  }
  return v;
}

// --- requests ------------------------------------------------------------------

// The query string of GET /tiles/{z}/{x}/{y}.png for this view.
export function tileQuery(v: View): string {
  const q = new URLSearchParams();
  q.set('fractal', v.fractal);
  q.set('max_iter', String(v.maxIter));
  q.set('palette', v.palette);
  if (v.fractal === 'julia' && v.juliaC) q.set('julia_c', `${v.juliaC[0]},${v.juliaC[1]}`);
  return q.toString();
}

// Deeper than double comfortably holds: the centre and scale go to POST /add as
// exact decimal strings (and precision auto picks deep where double cannot resolve
// the render's pixels).
export function isDeep(v: View): boolean {
  return log2Decimal(v.scale) < -30;
}

// The POST /add body rendering this view at width x height.
export function renderBody(
  v: View,
  opts: { width: number; height: number; format: string; supersample: number; coloring: string },
): Record<string, unknown> {
  const deep = isDeep(v);
  const body: Record<string, unknown> = {
    fractal: v.fractal,
    width: opts.width,
    height: opts.height,
    center: deep ? [...v.center] : approx(v.center),
    scale: deep ? v.scale : Number(v.scale),
    max_iter: v.maxIter,
    palette: v.palette,
    format: opts.format,
    coloring: opts.coloring,
    supersample: opts.supersample,
  };
  if (deep) body.precision = 'auto';
  if (v.fractal === 'julia' && v.juliaC) body.julia_c = v.juliaC;
  return body;
}
