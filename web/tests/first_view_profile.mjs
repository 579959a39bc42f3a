// Where the warm first view's time goes (bench/web/first_view.sh's measurement,
// taken apart): from the click on "Sign in", the browser's resource timings of
// POST /sign-in, the tile requests, GET /palettes and GET /tasks, and when the
// last visible tile was drawn. Usage, against a running stack:
//   FRACTAL_URL=http://127.0.0.1:8080 BENCH_USER=u BENCH_PASSWORD=p RUNS=5 node tests/first_view_profile.mjs
// FRACTAL_URL may list several servers of one stack (e.g. one serving another
// build of web/dist), comma-separated: runs alternate between them (A/B on
// the same machine load), and each gets its own median.
import { chromium } from 'playwright-core';

const urls = process.env.FRACTAL_URL.split(',');
const runs = Number(process.env.RUNS ?? 5);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function once(url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.getByLabel('Username', { exact: true }).fill(process.env.BENCH_USER);
  await page.getByLabel('Password', { exact: true }).fill(process.env.BENCH_PASSWORD);
  await page.evaluate(() => document.querySelector('button[type=submit], form button')?.addEventListener('click', () => performance.mark('click'), { capture: true }));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  let drawn = 0;
  for (const t0 = Date.now(); ; ) {
    const state = await page.evaluate(() => {
      const map = document.querySelector('[aria-label="Fractal explorer"]');
      if (!map) return null;
      const box = map.getBoundingClientRect();
      const visible = [...map.querySelectorAll('.leaflet-tile')].filter((t) => {
        const r = t.getBoundingClientRect();
        return r.right > box.left && r.left < box.right && r.bottom > box.top && r.top < box.bottom;
      });
      return visible.length > 0 && visible.every((t) => t.classList.contains('leaflet-tile-loaded')) ? performance.now() : null;
    });
    if (state) { drawn = state; break; }
    if (Date.now() - t0 > 30_000) throw new Error('tiles not drawn after 30 s');
    await new Promise((r) => setTimeout(r, 5));
  }
  const t = await page.evaluate(() => {
    const click = performance.getEntriesByName('click')[0]?.startTime ?? 0;
    const res = performance.getEntriesByType('resource').filter((e) => e.startTime >= click - 1);
    const pick = (re) => res.filter((e) => re.test(new URL(e.name).pathname));
    const span = (list) => list.length ? {
      n: list.length,
      start: Math.min(...list.map((e) => e.startTime)) - click,
      firstEnd: Math.min(...list.map((e) => e.responseEnd)) - click,
      end: Math.max(...list.map((e) => e.responseEnd)) - click,
      meanTtfb: list.reduce((s, e) => s + (e.responseStart - e.requestStart), 0) / list.length,
      meanQueued: list.reduce((s, e) => s + (e.requestStart - e.startTime), 0) / list.length,
      newConnections: list.filter((e) => e.connectEnd > e.connectStart).length,
      meanConnect: list.reduce((s, e) => s + (e.connectEnd - e.connectStart), 0) / list.length,
    } : null;
    const mark = (name) => (performance.getEntriesByName(name)[0]?.startTime ?? NaN) - click;
    const marks = Object.fromEntries(['fractal:signed-in', 'fractal:explorer-mounted', 'fractal:tiles-requested', 'fractal:tiles-loaded']
      .map((m) => [m.slice(8), mark(m)]));
    return { click, marks, signIn: span(pick(/^\/sign-in$/)), tiles: span(pick(/^\/tiles\//)), palettes: span(pick(/^\/palettes$/)), tasks: span(pick(/^\/tasks$/)) };
  });
  await context.close();
  return { total: drawn - t.click, ...t };
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (s) => s ? `n=${s.n} start=${s.start.toFixed(0)} firstEnd=${s.firstEnd.toFixed(0)} end=${s.end.toFixed(0)} ttfb=${s.meanTtfb.toFixed(1)} queued=${s.meanQueued.toFixed(1)} connects=${s.newConnections} connect=${s.meanConnect.toFixed(1)}` : '-';
for (const url of urls) await once(url); // cold: fills the tile cache
const totals = Object.fromEntries(urls.map((u) => [u, []]));
for (let i = 0; i < runs; i++) {
  for (const url of urls) {
    const r = await once(url);
    totals[url].push(r.total);
    const marks = Object.entries(r.marks).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' ');
    console.log(`PROFILE ${url} total=${r.total.toFixed(0)} | ${marks} | sign-in ${fmt(r.signIn)} | tiles ${fmt(r.tiles)} | palettes ${fmt(r.palettes)} | tasks ${fmt(r.tasks)}`);
  }
}
for (const url of urls) console.log(`PROFILE ${url} median=${median(totals[url]).toFixed(0)} runs=[${totals[url].map((t) => t.toFixed(0)).join(' ')}]`);
await browser.close();
