import { describe, expect, it } from 'vitest';
import {
  defaultView, fromFragment, fromLatLng, parseComplex, pixelsPerUnit, renderBody, scaleForZoom, tileAt, tileCenter,
  tileQuery, toFragment, toLatLng, zoomForScale,
} from './view';

describe('tiles (API.md "Tiles")', () => {
  it('level 0 is the 4x4 square around the default centre', () => {
    expect(tileCenter('mandelbrot', 0, 0, 0)).toEqual([-0.5, 0]);
    expect(tileCenter('julia', 0, 0, 0)).toEqual([0, 0]);
  });
  it('centre of tile (z, x, y) follows the formula', () => {
    // z = 2: side 1; x = 1, y = 3 -> re = -0.5 - 2 + 1.5, im = 0 + 2 - 3.5
    expect(tileCenter('mandelbrot', 2, 1, 3)).toEqual([-1, -1.5]);
    expect(tileCenter('julia', 1, 1, 0)).toEqual([1, 1]);
  });
  it('tileAt inverts tileCenter and refuses points outside', () => {
    for (const [z, x, y] of [[0, 0, 0], [3, 5, 2], [10, 1023, 0]] as const)
      expect(tileAt('mandelbrot', z, tileCenter('mandelbrot', z, x, y))).toEqual([x, y]);
    expect(tileAt('mandelbrot', 2, [2, 0])).toBeNull();
  });
  it('pixels per unit and scale <-> zoom', () => {
    expect(pixelsPerUnit(0)).toBe(64);
    expect(scaleForZoom(256, 0)).toBe(4);
    expect(scaleForZoom(1024, 2)).toBe(4);
    expect(zoomForScale(800, scaleForZoom(800, 3.25))).toBeCloseTo(3.25, 12);
    // one zoom step (the + key) halves the scale
    expect(scaleForZoom(1000, 5) / scaleForZoom(1000, 6)).toBe(2);
  });
  it('lat/lng are offsets from the fractal origin', () => {
    expect(toLatLng('mandelbrot', [-0.5, 0])).toEqual([0, 0]);
    expect(fromLatLng('mandelbrot', 1, 2)).toEqual([1.5, 1]);
    expect(fromLatLng('julia', 1, 2)).toEqual([2, 1]);
  });
});

describe('fragment (API.md "Web client")', () => {
  it('writes the documented keys', () => {
    expect(toFragment(defaultView())).toBe('#fractal=mandelbrot&center=-0.5,0&scale=3&max_iter=500&palette=classic');
    const j = { ...defaultView('julia'), juliaC: [-0.8, 0.156] as [number, number] };
    expect(toFragment(j)).toBe('#fractal=julia&center=0,0&scale=3.2&max_iter=500&palette=classic&julia_c=-0.8,0.156');
  });
  it('round-trips', () => {
    const v = { ...defaultView(), center: [-0.743643887037151, 0.13182590420533] as [number, number], scale: 1.5e-9, maxIter: 2000, palette: 'fire' };
    const back = fromFragment(toFragment(v));
    expect(back.fractal).toBe('mandelbrot');
    expect(back.maxIter).toBe(2000);
    expect(back.palette).toBe('fire');
    expect(back.scale).toBe(1.5e-9);
    expect(Math.abs(back.center[0] - v.center[0])).toBeLessThan(1.5e-9 / 1e6);
    expect(Math.abs(back.center[1] - v.center[1])).toBeLessThan(1.5e-9 / 1e6);
  });
  it('falls back to defaults on bad values', () => {
    const v = fromFragment('#fractal=julia&center=x&scale=-1&max_iter=0');
    expect(v.fractal).toBe('julia');
    expect(v.center).toEqual([0, 0]);
    expect(v.scale).toBe(3.2);
    expect(v.maxIter).toBe(500);
    expect(v.juliaC).not.toBeNull();
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
  });
});
