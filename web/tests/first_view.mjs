// Time from clicking "Sign in" to every visible tile of the explorer drawn,
// 1280x800, in Debian's headless Chromium (playwright-core), against a running
// stack: once cold (empty tile cache), then RUNS times warm (new browser
// contexts, same view: cache hits). Usage (bench/web/first_view.sh runs it):
//   FRACTAL_URL=http://127.0.0.1:8080 BENCH_USER=u BENCH_PASSWORD=p node first_view.mjs
import { chromium } from 'playwright-core';

const url = process.env.FRACTAL_URL;
const user = process.env.BENCH_USER;
const password = process.env.BENCH_PASSWORD;
const runs = Number(process.env.RUNS ?? 3);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function once() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.getByLabel('Username', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // The app's CSP forbids waitForFunction (eval): poll with evaluate.
  for (;;) {
    const state = await page.evaluate(() => {
      const map = document.querySelector('[aria-label="Fractal explorer"]');
      if (!map) return { tiles: 0, loaded: 0 };
      const box = map.getBoundingClientRect();
      const visible = [...map.querySelectorAll('.leaflet-tile')].filter((t) => {
        const r = t.getBoundingClientRect();
        return r.right > box.left && r.left < box.right && r.bottom > box.top && r.top < box.bottom;
      });
      return { tiles: visible.length, loaded: visible.filter((t) => t.classList.contains('leaflet-tile-loaded')).length };
    });
    if (state.tiles > 0 && state.loaded === state.tiles) {
      const ms = Date.now() - t0;
      await context.close();
      return { ms, tiles: state.tiles };
    }
    if (Date.now() - t0 > 30_000) throw new Error(`tiles not drawn after 30 s: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cold = await once();
console.log(`FIRST_VIEW cold ms=${cold.ms} tiles=${cold.tiles}`);
const warm = [];
for (let i = 0; i < runs; i++) warm.push((await once()).ms);
warm.sort((a, b) => a - b);
console.log(`FIRST_VIEW warm ms=[${warm.join(' ')}] median=${warm[Math.floor(warm.length / 2)]}`);
await browser.close();
