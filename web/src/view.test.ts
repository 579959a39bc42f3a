import { describe, expect, it } from 'vitest';
import { add, dec, floorDec, formatDec, fromNumber, mulPow2, parseDec, roundTo, toNumber } from './exact';
import {
  defaultView, frameFits, frameFor, fromFragment, fromLocal, parseComplex, pixelsPerUnit, renderBody, roundForScale,
  scaleForZoom, tileAt, tileCenter, tileOfLocal, tileQuery, toFragment, toLocal, zoomForScale, type View,
} from './view';

// Exact decimal of n / 2^k (k >= 0), computed independently of exact.ts: n * 5^k / 10^k.
function dyadic(n: bigint, k: number): string {
  const neg = n < 0n;
  const digits = ((neg ? -n : n) * 5n ** BigInt(k)).toString().padStart(k + 1, '0');
  let s = k ? `${digits.slice(0, digits.length - k)}.${digits.slice(digits.length - k)}` : digits;
  if (k) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return formatDec(parseDec((neg && s !== '0' ? '-' : '') + s)!);
}

describe('exact decimals', () => {
  it('parse and format keep every digit', () => {
    for (const t of ['-0.75', '0', '1.5e-1200', '-1.7499999999999999999999999999999999999999123', '12345678901234567890'])
      expect(toNumber(parseDec(t)!)).toBe(Number(t));
    expect(formatDec(parseDec('-0.7500')!)).toBe('-0.75');
    expect(formatDec(parseDec('1.5e-1200')!)).toBe('1.5e-1200');
    expect(formatDec(parseDec('0.000001')!)).toBe('0.000001');
    expect(formatDec(parseDec('-1.7499999999999999999999999999999999999999123')!)).toBe(
      '-1.7499999999999999999999999999999999999999123');
    for (const bad of ['', '.', 'e5', '1e', '0x10', '1,5', ' - 1', 'Infinity', 'NaN']) expect(parseDec(bad)).toBeNull();
  });
  it('doubles are converted exactly', () => {
    expect(formatDec(fromNumber(0.1))).toBe('0.1000000000000000055511151231257827021181583404541015625');
    expect(formatDec(fromNumber(-0.75))).toBe('-0.75');
    expect(formatDec(fromNumber(2 ** -60))).toBe(dyadic(1n, 60));
    expect(formatDec(fromNumber(2 ** -60))).toBe('8.67361737988403547205962240695953369140625e-19');
    expect(toNumber(fromNumber(5e-324))).toBe(5e-324);
  });
  it('arithmetic', () => {
    expect(formatDec(add(parseDec('0.1')!, parseDec('0.2')!))).toBe('0.3');
    expect(formatDec(mulPow2(dec(3n), -3))).toBe('0.375');
    expect(formatDec(mulPow2(parseDec('0.375')!, 3))).toBe('3');
    expect(floorDec(parseDec('-2.5')!)).toBe(-3n);
    expect(floorDec(parseDec('2.5')!)).toBe(2n);
    expect(floorDec(parseDec('-3')!)).toBe(-3n);
    expect(formatDec(roundTo(parseDec('-0.123456')!, -3))).toBe('-0.123');
    expect(formatDec(roundTo(parseDec('0.1235')!, -3))).toBe('0.124');
  });
});

describe('tiles (docs/api.md "Tiles", "Deep zoom")', () => {
  it('level 0 is the 4x4 square around the default centre', () => {
    expect(tileCenter('mandelbrot', 0, 0n, 0n)).toEqual(['-0.5', '0']);
    expect(tileCenter('julia', 0, 0n, 0n)).toEqual(['0', '0']);
  });
  it('centre of tile (z, x, y) follows the formula', () => {
    // z = 2: side 1; x = 1, y = 3 -> re = -0.5 - 2 + 1.5, im = 0 + 2 - 3.5
    expect(tileCenter('mandelbrot', 2, 1n, 3n)).toEqual(['-1', '-1.5']);
    expect(tileCenter('julia', 1, 1n, 0n)).toEqual(['1', '1']);
  });

  // Tiles near c = i (a Misiurewicz point with structure at every depth) at
  // z = 30, 38 (double), 39, 60, 200 (deep): the centre is exact, the inverse
  // mapping finds the tile again, and the frame Leaflet sees maps its tile to it.
  const levels = [30, 38, 39, 60, 200];
  const tileNearI = (z: number): [bigint, bigint] => {
    // x: re = 0 is at 2.5 / 4 of the square; y: im = 1 at 1 / 4.
    const n = 1n << BigInt(z);
    return [(5n * n) / 8n + 3n, n / 4n - 2n];
  };
  for (const z of levels) {
    it(`z = ${z}: exact centre, tileAt inverts it, the Leaflet frame maps to it`, () => {
      const [x, y] = tileNearI(z);
      const c = tileCenter('mandelbrot', z, x, y);
      // re * 2^(z+1) = 4(2x + 1) - 5 * 2^z; im * 2^(z+1) = 4 * 2^z - 4(2y + 1)... over 2^(z+1)
      const two = 1n << BigInt(z);
      expect(c[0]).toBe(dyadic(4n * (2n * x + 1n) - 5n * two, z + 1));
      expect(c[1]).toBe(dyadic(4n * two - 4n * (2n * y + 1n), z + 1));
      if (z <= 38) {
        // double holds these exactly: the same numbers as the plain formula
        expect(Number(c[0])).toBe(-0.5 - 2 + (Number(x) + 0.5) * (4 / 2 ** z));
        expect(Number(c[1])).toBe(0 + 2 - (Number(y) + 0.5) * (4 / 2 ** z));
      }
      expect(tileAt('mandelbrot', z, c)).toEqual([x, y]);

      // The frame: Leaflet's tile under the centre at Leaflet zoom z - z0 is pyramid tile (z, x, y).
      const f = frameFor('mandelbrot', c, z);
      expect(f.z0).toBe(Math.max(0, z - 16));
      const [lat, lng] = toLocal(f, c);
      expect(frameFits(f, z, lat, lng)).toBe(true);
      const l = z - f.z0;
      const tx = Math.floor((64 * 2 ** l * lng) / 256);
      const ty = Math.floor((-64 * 2 ** l * lat) / 256);
      expect(tileOfLocal(f, l, tx, ty)).toEqual([z, x, y]);
      // and back: Leaflet's coordinates give the exact centre again (these are dyadic, so exactly)
      const [re, im] = fromLocal(f, lat, lng);
      expect([formatDec(re), formatDec(im)]).toEqual(c);
      // a Leaflet point 0.3 px right of the centre is 0.3 px right in the plane, to 1e-6 px
      const [re2] = fromLocal(f, lat, lng + 0.3 / (64 * 2 ** l));
      const px = toNumber(mulPow2(add(re2, parseDec('-' + c[0]) ?? dec(0n)), z + 6));
      expect(Math.abs(px - 0.3)).toBeLessThan(1e-6);
    });
  }

  it('tiles outside the pyramid are none', () => {
    expect(tileAt('mandelbrot', 2, ['2', '0'])).toBeNull();
    const f = frameFor('mandelbrot', ['-0.5', '0'], 0);
    expect(tileOfLocal(f, 1, -1, 0)).toBeNull();
    expect(tileOfLocal(f, 1, 1, 2)).toBeNull();
    expect(tileOfLocal(f, 1, 1, 1)).toEqual([1, 1n, 1n]);
  });

  it('a frame that no longer fits is replaced', () => {
    const c = tileCenter('mandelbrot', 60, ...tileNearI(60));
    const f = frameFor('mandelbrot', c, 60);
    const [lat, lng] = toLocal(f, c);
    expect(frameFits(f, 60, lat, lng)).toBe(true);
    expect(frameFits(f, 80, lat, lng)).toBe(false); // deeper: Leaflet's zoom would pass 28
    expect(frameFits(f, 40, lat, lng)).toBe(false); // shallower: a frame nearer the root
    expect(frameFits(f, 60, lat + 2 ** 20, lng)).toBe(false); // 2^42 pixels away at Leaflet zoom 16
    expect(frameFits(frameFor('mandelbrot', ['-0.5', '0'], 3), 28, 0, 0)).toBe(true);
  });

  it('pixels per unit and scale <-> zoom, also past double range', () => {
    expect(pixelsPerUnit(0)).toBe(64);
    expect(scaleForZoom(256, 0)).toBe('4');
    expect(scaleForZoom(1024, 2)).toBe('4');
    expect(zoomForScale(800, scaleForZoom(800, 3.25))).toBeCloseTo(3.25, 10);
    // one zoom step (the + key) halves the scale
    expect(Number(scaleForZoom(1000, 5)) / Number(scaleForZoom(1000, 6))).toBe(2);
    expect(scaleForZoom(1280, 200)).toBe(String(Number((20 * 2 ** -200).toPrecision(12))));
    expect(zoomForScale(1280, scaleForZoom(1280, 200.25))).toBeCloseTo(200.25, 9);
    const s = scaleForZoom(1280, 5000.5);
    expect(s).toMatch(/^\d\.\d+e-150\d$/);
    expect(zoomForScale(1280, s)).toBeCloseTo(5000.5, 8);
    expect(zoomForScale(1280, '1e-10000')).toBeCloseTo(Math.log2(20) + 10000 * Math.log2(10), 6);
  });
});

describe('fragment (docs/api.md "Web client")', () => {
  it('writes the documented keys', () => {
    expect(toFragment(defaultView())).toBe('#fractal=mandelbrot&center=-0.5,0&scale=3&max_iter=500&palette=classic');
    const j = { ...defaultView('julia'), juliaC: [-0.8, 0.156] as [number, number] };
    expect(toFragment(j)).toBe('#fractal=julia&center=0,0&scale=3.2&max_iter=500&palette=classic&julia_c=-0.8,0.156');
  });
  it('round-trips', () => {
    const v: View = { ...defaultView(), center: ['-0.743643887037151', '0.13182590420533'], scale: '1.5e-9', maxIter: 2000, palette: 'fire' };
    const back = fromFragment(toFragment(v));
    expect(back).toEqual(v);
  });
  for (const z of [30, 38, 39, 60, 200]) {
    it(`keeps a z = ${z} view exact both ways`, () => {
      const n = 1n << BigInt(z);
      const center = tileCenter('mandelbrot', z, (5n * n) / 8n + 3n, n / 4n - 2n);
      const v: View = { ...defaultView(), center, scale: scaleForZoom(1280, z + 2) };
      const frag = toFragment(v);
      expect(frag).toContain(`center=${center[0]},${center[1]}&scale=${v.scale}&`);
      expect(fromFragment(frag)).toEqual(v);
      // a fragment written by hand (exponent notation, trailing zeros) means the same numbers
      const padded = center[0].includes('e') ? center[0].replace('e', '000e') : `${center[0]}000`;
      const typed = fromFragment(`#center=${padded},${center[1]}&scale=${Number(v.scale).toExponential()}`);
      expect(typed.center[0]).toBe(padded);
      expect(formatDec(parseDec(typed.center[0])!)).toBe(center[0]); // the same number
      expect(typed.center[1]).toBe(center[1]);
      expect(Number(typed.scale)).toBe(Number(v.scale));
      expect(tileAt('mandelbrot', z, typed.center)).toEqual([(5n * n) / 8n + 3n, n / 4n - 2n]);
    });
  }
  it('a deep centre coming from the map is rounded to about 8 digits below a pixel', () => {
    const exact = parseDec('0.123456789012345678901234567890123456789')!;
    expect(roundForScale(exact, '1e-20')).toBe('0.1234567890123456789012345678901');
    expect(roundForScale(exact, '3')).toBe('0.12345678901');
  });
  it('falls back to defaults on bad values', () => {
    const v = fromFragment('#fractal=julia&center=x&scale=-1&max_iter=0');
    expect(v.fractal).toBe('julia');
    expect(v.center).toEqual(['0', '0']);
    expect(v.scale).toBe('3.2');
    expect(v.maxIter).toBe(500);
    expect(v.juliaC).not.toBeNull();
    expect(fromFragment('#scale=1e-20000').scale).toBe('3'); // below 1e-10000
    expect(fromFragment('#scale=0').scale).toBe('3');
    expect(fromFragment('#center=1,2,3').center).toEqual(['-0.5', '0']);
    expect(fromFragment('').fractal).toBe('mandelbrot');
    expect(fromFragment('#fractal=mandelbrot&julia_c=1,1').juliaC).toBeNull();
  });
  it('parses complex numbers', () => {
    expect(parseComplex('-0.8, 0.156')).toEqual([-0.8, 0.156]);
    expect(parseComplex('0.285,0.01i')).toEqual([0.285, 0.01]);
    expect(parseComplex('1')).toBeNull();
    expect(parseComplex('a,b')).toBeNull();
  });
});

describe('requests', () => {
  it('tile query and render body carry the view', () => {
    const j = { ...defaultView('julia'), juliaC: [0.285, 0.01] as [number, number], palette: 'ocean' };
    expect(tileQuery(j)).toBe('fractal=julia&max_iter=500&palette=ocean&julia_c=0.285%2C0.01');
    expect(tileQuery(defaultView())).toBe('fractal=mandelbrot&max_iter=500&palette=classic');
    const body = renderBody(defaultView(), { width: 320, height: 240, format: 'png', supersample: 1, coloring: 'smooth' });
    expect(body).toMatchObject({ fractal: 'mandelbrot', width: 320, height: 240, center: [-0.5, 0], scale: 3 });
    expect(body).not.toHaveProperty('julia_c');
    expect(body).not.toHaveProperty('precision');
  });
  it('a deep view is submitted exactly, with precision auto', () => {
    const center = tileCenter('mandelbrot', 60, (5n << 57n) + 3n, (1n << 58n) - 2n);
    const v: View = { ...defaultView(), center, scale: scaleForZoom(1280, 62) };
    const body = renderBody(v, { width: 640, height: 400, format: 'png', supersample: 1, coloring: 'smooth' });
    expect(body.center).toEqual(center);
    expect(body.scale).toBe(v.scale);
    expect(typeof body.scale).toBe('string');
    expect(body.precision).toBe('auto');
  });
});
