// The view <-> URL fragment <-> tile pyramid mapping of shared/API.md
// ("Tiles" and "Web client"). Pure functions: unit-tested in view.test.ts.

export type Fractal = 'mandelbrot' | 'julia';
export type Complex = [number, number];

export interface View {
  fractal: Fractal;
  center: Complex; // [re, im]
  scale: number; // width of the visible view in the complex plane
  maxIter: number;
  palette: string;
  juliaC: Complex | null; // required for Julia, null for Mandelbrot
}

export const TILE_SIZE = 256;
export const PYRAMID_SIDE = 4; // level 0 covers a 4 x 4 square
export const MAX_TILE_ZOOM = 38; // scale/width would drop below 2^-44 past this (zoom_too_deep)
export const DEFAULT_JULIA_C: Complex = [-0.8, 0.156];

export function origin(fractal: Fractal): Complex {
  return fractal === 'mandelbrot' ? [-0.5, 0] : [0, 0];
}

export function defaultScale(fractal: Fractal): number {
  return fractal === 'mandelbrot' ? 3.0 : 3.2;
}

export function defaultView(fractal: Fractal = 'mandelbrot'): View {
  return {
    fractal,
    center: origin(fractal),
    scale: defaultScale(fractal),
    maxIter: 500,
    palette: 'classic',
    juliaC: fractal === 'julia' ? DEFAULT_JULIA_C : null,
  };
}

// Pixels per unit of the complex plane at (fractional) map zoom z: level z of
// the pyramid is 256 * 2^z pixels across 4 units.
export function pixelsPerUnit(zoom: number): number {
  return (TILE_SIZE * 2 ** zoom) / PYRAMID_SIDE;
}

// Scale (view width in the plane) of a viewport `widthPx` wide at zoom z, and back.
export function scaleForZoom(widthPx: number, zoom: number): number {
  return widthPx / pixelsPerUnit(zoom);
}
export function zoomForScale(widthPx: number, scale: number): number {
  return Math.log2((widthPx * PYRAMID_SIDE) / (TILE_SIZE * scale));
}

// The centre of tile (z, x, y), exactly as API.md defines it; its scale is 4 / 2^z.
export function tileCenter(fractal: Fractal, z: number, x: number, y: number): Complex {
  const [ore, oim] = origin(fractal);
  const side = PYRAMID_SIDE / 2 ** z;
  return [ore - 2 + (x + 0.5) * side, oim + 2 - (y + 0.5) * side];
}

// The tile (z, x, y) holding point c at level z (integer zoom), or null outside the pyramid.
export function tileAt(fractal: Fractal, z: number, c: Complex): [number, number] | null {
  const [ore, oim] = origin(fractal);
  const n = 2 ** z;
  const x = Math.floor(((c[0] - (ore - 2)) / PYRAMID_SIDE) * n);
  const y = Math.floor((((oim + 2) - c[1]) / PYRAMID_SIDE) * n);
  if (x < 0 || y < 0 || x >= n || y >= n) return null;
  return [x, y];
}

// Leaflet's CRS.Simple works in (lat, lng); we use lng = re - origin.re and
// lat = im - origin.im so one CRS serves both fractals (see Explorer.vue).
export function toLatLng(fractal: Fractal, c: Complex): [number, number] {
  const [ore, oim] = origin(fractal);
  return [c[1] - oim, c[0] - ore];
}
export function fromLatLng(fractal: Fractal, lat: number, lng: number): Complex {
  const [ore, oim] = origin(fractal);
  return [lng + ore, lat + oim];
}

// Shortest decimal that keeps what matters at this scale: ~4 digits below a pixel.
export function formatNumber(v: number, scale = 1): string {
  if (!Number.isFinite(v)) return String(v);
  const digits = Math.min(17, Math.max(6, Math.ceil(-Math.log10(scale)) + 8));
  const s = Number(v.toPrecision(digits)).toString();
  return s === '-0' ? '0' : s;
}
export function formatScale(scale: number): string {
  return Number(scale.toPrecision(12)).toString();
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

// `#fractal=…&center=re,im&scale=…&max_iter=…&palette=…[&julia_c=re,im]`.
export function toFragment(v: View): string {
  const p: string[] = [
    `fractal=${v.fractal}`,
    `center=${formatComplex(v.center, v.scale)}`,
    `scale=${formatScale(v.scale)}`,
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
  if (center !== null) v.center = parseComplex(center) ?? d.center;
  const scale = Number(params.get('scale') ?? NaN);
  if (Number.isFinite(scale) && scale > 0) v.scale = scale;
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

// The query string of GET /tiles/{z}/{x}/{y}.png for this view.
export function tileQuery(v: View): string {
  const q = new URLSearchParams();
  q.set('fractal', v.fractal);
  q.set('max_iter', String(v.maxIter));
  q.set('palette', v.palette);
  if (v.fractal === 'julia' && v.juliaC) q.set('julia_c', `${v.juliaC[0]},${v.juliaC[1]}`);
  return q.toString();
}

// The POST /add body rendering this view at width x height.
export function renderBody(
  v: View,
  opts: { width: number; height: number; format: string; supersample: number; coloring: string },
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    fractal: v.fractal,
    width: opts.width,
    height: opts.height,
    center: v.center,
    scale: v.scale,
    max_iter: v.maxIter,
    palette: v.palette,
    format: opts.format,
    coloring: opts.coloring,
    supersample: opts.supersample,
  };
  if (v.fractal === 'julia' && v.juliaC) body.julia_c = v.juliaC;
  return body;
}
