// End-to-end test of the web client in a real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; nothing downloads a browser),
// against a running stack. Usage:
//   FRACTAL_URL=http://127.0.0.1:8080 SHOT_DIR=/tmp/shots node tests/e2e.mjs
// Run by ctest through tests/web/browser_e2e.sh, which starts `scripts/stack up`.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.FRACTAL_URL ?? 'http://127.0.0.1:8080';
const shots = process.env.SHOT_DIR ?? '/tmp/fractal-web-shots';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const problems = [];
let step = 'start';
const log = (s) => {
  step = s;
  console.log(`web-e2e: ${s}`);
};

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

function watch(page, name) {
  page.on('console', (m) => {
    // The browser itself logs each non-2xx fetch; the ones the test provokes
    // on purpose (taken name, wrong password) are expected.
    if (m.type() === 'error' && !/status of (401|409) /.test(m.text())) problems.push(`${name} console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && ![401, 409].includes(r.status())) problems.push(`${name}: ${r.status()} ${r.url()}`);
  });
}

const exact = { exact: true };
const user = `web_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const password = 'correct-horse-battery';

async function signIn(page, pw = password) {
  await page.getByLabel('Username', exact).fill(user);
  await page.getByLabel('Password', exact).fill(pw);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// page.waitForFunction evaluates strings in the page, which the app's CSP
// forbids (no 'unsafe-eval'): poll with page.evaluate instead.
async function waitFor(page, fn, arg, { timeout = 15_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// One tile layer (a replaced one is gone), every tile of it loaded, at least two.
function tilesSettled() {
  const layers = document.querySelectorAll('[aria-label="Fractal explorer"] .fractal-tiles');
  if (layers.length !== 1) return false;
  const all = layers[0].querySelectorAll('img');
  const loaded = layers[0].querySelectorAll('img.leaflet-tile-loaded');
  return loaded.length >= 2 && loaded.length === all.length;
}

function fragment(page) {
  return page.evaluate(() => Object.fromEntries(new URLSearchParams(location.hash.slice(1))));
}

// Pixels of loaded tiles: true when some tile has more than one colour.
async function tilesNotBlank(page) {
  return page.evaluate(() => {
    const imgs = [...document.querySelectorAll('[aria-label="Fractal explorer"] img.leaflet-tile-loaded')];
    const c = document.createElement('canvas');
    c.width = c.height = 64;
    const g = c.getContext('2d');
    for (const img of imgs) {
      g.clearRect(0, 0, 64, 64);
      g.drawImage(img, 0, 0, 64, 64);
      const d = g.getImageData(0, 0, 64, 64).data;
      const colours = new Set();
      for (let i = 0; i < d.length; i += 4) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (colours.size > 8) return true;
    }
    return false;
  });
}

async function tileSignature(page) {
  return page.evaluate(() => {
    const img = document.querySelector('[aria-label="Fractal explorer"] img.leaflet-tile-loaded');
    if (!img) return '';
    const c = document.createElement('canvas');
    c.width = c.height = 32;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0, 32, 32);
    return Array.from(g.getImageData(0, 0, 32, 32).data).join(',');
  });
}

// Mean absolute difference (0-255, per channel) between tile (z, x, y) and its
// four children at z + 1 averaged 2x2 down to the same size: where a renderer
// switch left a seam (another colour, an offset), this jumps. Fetched with the
// page's token, decoded on a canvas.
async function parentChildDifference(page, z, x, y, query) {
  return page.evaluate(async ({ z, x, y, query }) => {
    const token = sessionStorage.getItem('fractal.token');
    const pixels = async (zz, xx, yy) => {
      const r = await fetch(`/tiles/${zz}/${xx}/${yy}.png?${query}`, { headers: { Authorization: `Bearer ${token}` } });
      if (!r.ok) throw new Error(`tile ${zz}/${xx}/${yy}: ${r.status}`);
      const bitmap = await createImageBitmap(await r.blob());
      const c = document.createElement('canvas');
      c.width = c.height = 256;
      const g = c.getContext('2d');
      g.drawImage(bitmap, 0, 0);
      return g.getImageData(0, 0, 256, 256).data;
    };
    const X = BigInt(x), Y = BigInt(y);
    const parent = await pixels(z, X, Y);
    const kids = [];
    for (const [dx, dy] of [[0n, 0n], [1n, 0n], [0n, 1n], [1n, 1n]]) kids.push(await pixels(z + 1, 2n * X + dx, 2n * Y + dy));
    let sum = 0, n = 0;
    for (let j = 0; j < 256; j++) {
      for (let i = 0; i < 256; i++) {
        const kid = kids[(i >= 128 ? 1 : 0) + (j >= 128 ? 2 : 0)];
        const ki = (i % 128) * 2, kj = (j % 128) * 2;
        for (let ch = 0; ch < 3; ch++) {
          let avg = 0;
          for (const [a, b] of [[0, 0], [1, 0], [0, 1], [1, 1]]) avg += kid[((kj + b) * 256 + ki + a) * 4 + ch];
          sum += Math.abs(avg / 4 - parent[(j * 256 + i) * 4 + ch]);
          n++;
        }
      }
    }
    return sum / n;
  }, { z, x: String(x), y: String(y), query });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page, 'page');

  log('open the app');
  const res = await page.goto(url + '/');
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'self'/);

  log('sign up');
  await page.getByLabel('Username', exact).fill(user);
  await page.getByLabel('Password', exact).fill(password);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'created' }).waitFor();

  log('sign up again: the alert says the name is taken');
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: /taken|exists/i }).waitFor();

  log('wrong password shows the alert');
  await signIn(page, 'not-the-password');
  await page.getByRole('alert').filter({ hasText: /invalid|password|credentials/i }).waitFor();
  await page.screenshot({ path: join(shots, '01-wrong-password.png') });

  log('sign in');
  await signIn(page);
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  assert.equal(await page.getByRole('alert').count(), 0, 'the alert is gone after signing in');
  assert.ok(!page.url().includes('ey'), 'no token in the URL');

  log('tiles appear in the explorer and are not blank');
  const map = page.getByLabel('Fractal explorer', exact);
  await map.waitFor();
  await waitFor(page, 
    tilesSettled, undefined, { timeout: 60_000 });
  assert.ok(await tilesNotBlank(page), 'tiles have pixels of more than one colour');
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, '02-explorer.png') });

  log('+ halves the scale in the fragment');
  const before = await fragment(page);
  assert.equal(before.fractal, 'mandelbrot');
  await map.focus();
  await page.keyboard.press('+');
  await waitFor(page, (s) => {
    const f = new URLSearchParams(location.hash.slice(1));
    return Math.abs(Number(f.get('scale')) - s / 2) < s * 1e-9;
  }, Number(before.scale), { timeout: 10_000 });

  log('a drag moves the centre');
  const box = await map.boundingBox();
  const c0 = (await fragment(page)).center;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 150, box.y + box.height / 2 + 40, { steps: 8 });
  await page.mouse.up();
  await waitFor(page, (c) => new URLSearchParams(location.hash.slice(1)).get('center') !== c, c0);
  const c1 = (await fragment(page)).center.split(',').map(Number);
  assert.ok(c1[0] > Number(c0.split(',')[0]), 'dragging left moves the centre right');

  log('arrow keys pan');
  const c2 = (await fragment(page)).center;
  await map.focus();
  await page.keyboard.press('ArrowUp');
  await waitFor(page, (c) => new URLSearchParams(location.hash.slice(1)).get('center') !== c, c2);

  log('setting the fragment moves the view');
  const wanted = '#fractal=mandelbrot&center=-0.75,0.1&scale=0.5&max_iter=300&palette=classic';
  await page.evaluate((h) => { location.hash = h; }, wanted);
  await page.getByText('Scale: 0.5', exact).waitFor();
  await page.getByText('Centre: -0.75,0.1', exact).waitFor();
  assert.equal(await page.getByLabel('Max iterations', exact).inputValue(), '300');
  assert.equal(await page.evaluate(() => location.hash), wanted, 'the fragment is kept as written');
  await waitFor(page, 
    tilesSettled, undefined, { timeout: 60_000 });

  log('the palette control changes the tiles');
  const palettes = await page.getByLabel('Palette', exact).locator('option').allTextContents();
  assert.ok(palettes.length >= 2, `palettes listed: ${palettes}`);
  await page.waitForTimeout(500);
  const sig0 = await tileSignature(page);
  await page.getByLabel('Palette', exact).selectOption(palettes.find((p) => p !== 'classic'));
  await waitFor(page, 
    () => new URLSearchParams(location.hash.slice(1)).get('palette') !== 'classic');
  await waitFor(page, 
    tilesSettled, undefined, { timeout: 60_000 });
  await page.waitForTimeout(500);
  assert.notEqual(await tileSignature(page), sig0, 'tiles changed with the palette');
  await page.screenshot({ path: join(shots, '03-palette.png') });

  log('a fragment pasted into a new tab opens the same view (after signing in there)');
  const frag = await page.evaluate(() => location.hash);
  const page2 = await context.newPage();
  watch(page2, 'page2');
  await page2.goto(url + '/' + frag);
  await signIn(page2);
  await page2.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  const f1 = await fragment(page), f2 = await fragment(page2);
  assert.deepEqual(f2, f1);
  await page2.close();

  log('render 320x240 png; the row reaches done by itself; download it');
  await page.getByLabel('Width', exact).fill('320');
  await page.getByLabel('Height', exact).fill('240');
  await page.getByLabel('Format', exact).selectOption('png');
  await page.getByRole('button', { name: 'Render', exact: true }).click();
  const table = page.getByRole('table', { name: 'Tasks' });
  const row = table.locator('tbody tr').first();
  await row.getByRole('link', { name: 'Download' }).waitFor({ timeout: 120_000 });
  await page.waitForTimeout(500);  // the thumbnail
  await page.screenshot({ path: join(shots, '04-task-done.png') });
  const downloadPromise = page.waitForEvent('download');
  await row.getByRole('link', { name: 'Download' }).click();
  const download = await downloadPromise;
  const file = join(shots, 'download.png');
  await download.saveAs(file);
  const png = readFileSync(file);
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG');
  assert.equal(png.readUInt32BE(16), 320);
  assert.equal(png.readUInt32BE(20), 240);

  log('the task list survives a reload');
  await page.reload();
  await page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').first()
    .getByRole('link', { name: 'Download' }).waitFor({ timeout: 30_000 });

  log('delete the task');
  const rows = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr[data-task-id]');
  const n = await rows.count();
  await rows.first().getByRole('button', { name: 'Delete' }).click();
  await waitFor(page, (k) => document.querySelectorAll('table[aria-label="Tasks"] tbody tr[data-task-id]').length === k - 1, n);

  log('deep zoom: + past z = 38 (where Leaflet\'s doubles used to stop) shows tiles that are not blank');
  // c = i, a Misiurewicz point: structure at every depth, and tiles that render fast.
  // The map is 860 px wide at 1280x800: scale 1e-10 is zoom 36.97.
  await page.evaluate(() => { location.hash = '#fractal=mandelbrot&center=0,1&scale=1e-10&max_iter=300&palette=classic'; });
  await page.getByText('Scale: 1e-10', exact).waitFor();
  await waitFor(page, tilesSettled, undefined, { timeout: 60_000 });
  await map.focus();
  for (const want of ['5e-11', '2.5e-11', '1.25e-11']) {
    await page.keyboard.press('+');
    await waitFor(page, (w) => new URLSearchParams(location.hash.slice(1)).get('scale') === w, want, { timeout: 10_000 });
  }
  await waitFor(page, tilesSettled, undefined, { timeout: 90_000 });
  await page.waitForTimeout(400);
  assert.ok(await tilesNotBlank(page), 'deep tiles are not blank');
  assert.equal((await fragment(page)).center, '0,1', 'zooming with + keeps the exact centre');
  const deepLevels = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((e) => /\/tiles\/(\d+)\//.exec(e.name)?.[1]).filter(Boolean).map(Number));
  assert.ok(deepLevels.some((z) => z >= 39), `tiles of level 39 or deeper were requested: ${[...new Set(deepLevels)]}`);
  await page.screenshot({ path: join(shots, '08-deep-z40.png') });

  log('deep zoom: a z = 200 fragment opens exactly, a drag moves its exact centre');
  // A hair (1e-3 of the view) off c = i: the branch tip at i shows, self-similar at every depth.
  const deepCenter = '0.0000000000000000000000000000000000000000000000000000000000001234567890123456789,' +
    '1.0000000000000000000000000000000000000000000000000000000000000987654321098765432';
  const deepHash = `#fractal=mandelbrot&center=${deepCenter}&scale=1e-58&max_iter=300&palette=classic`;
  await page.evaluate((h) => { location.hash = h; }, deepHash);
  await page.getByText('Scale: 1e-58', exact).waitFor();
  await waitFor(page, tilesSettled, undefined, { timeout: 90_000 });
  await page.waitForTimeout(400);
  assert.ok(await tilesNotBlank(page), 'tiles at z = 200 are not blank');
  assert.equal(await page.evaluate(() => location.hash), deepHash, 'the deep fragment is kept as written');
  await page.screenshot({ path: join(shots, '09-deep-z200.png') });
  const db = await map.boundingBox();
  await page.mouse.move(db.x + db.width / 2, db.y + db.height / 2);
  await page.mouse.down();
  await page.mouse.move(db.x + db.width / 2 - 200, db.y + db.height / 2, { steps: 8 });
  // Held still before the release: Leaflet's inertia (a drag released while
  // moving glides on) only uses the last 50 ms of movement, so the view moves by
  // exactly the dragged pixels. Without the pause a fast CI run glided 46 px further.
  await page.waitForTimeout(200);
  await page.mouse.up();
  await waitFor(page, (c) => new URLSearchParams(location.hash.slice(1)).get('center') !== c, deepCenter);
  const moved = (await fragment(page)).center.split(',');
  // In units of 1e-70, exactly: 200 px of an 860 px wide view of scale 1e-58 to the
  // right, and no vertical move beyond Leaflet's rounding to a whole pixel.
  const at70 = (t) => {
    const m = /^(-?)(\d*)\.?(\d*)(?:e([+-]?\d+))?$/.exec(t);
    const e = Number(m[4] ?? 0) - m[3].length + 70;
    const v = e >= 0 ? BigInt(m[2] + m[3]) * 10n ** BigInt(e) : BigInt(m[2] + m[3]) / 10n ** BigInt(-e);
    return m[1] ? -v : v;
  };
  const [re0, im0] = deepCenter.split(',');
  const dre = Number(at70(moved[0]) - at70(re0)) * 1e-70, dim = Number(at70(moved[1]) - at70(im0)) * 1e-70;
  const pixel = 1e-58 / db.width;
  assert.ok(Math.abs(dre - 200 * pixel) < 2 * pixel, `re moved by ${dre}, not 200 pixels of ${pixel}`);
  assert.ok(Math.abs(dim) <= 0.5 * pixel, `im moved by ${dim}`);
  await waitFor(page, tilesSettled, undefined, { timeout: 90_000 });

  log('deep zoom: Render submits the exact deep centre and scale; the task runs deep');
  const addBody = page.waitForRequest((r) => r.url().endsWith('/add') && r.method() === 'POST');
  await page.getByLabel('Width', exact).fill('160');
  await page.getByLabel('Height', exact).fill('120');
  await page.getByRole('button', { name: 'Render', exact: true }).click();
  const sent = JSON.parse((await addBody).postData());
  const f = await fragment(page);
  assert.deepEqual(sent.center, f.center.split(','), 'the centre is sent as the exact decimal strings');
  assert.equal(sent.scale, f.scale);
  assert.equal(sent.precision, 'auto');
  const deepRow = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').first();
  await deepRow.getByRole('link', { name: 'Download' }).waitFor({ timeout: 120_000 });
  const deepTask = await page.evaluate(async () => {
    const token = sessionStorage.getItem('fractal.token');
    const r = await fetch('/tasks?limit=1', { headers: { Authorization: `Bearer ${token}` } });
    return (await r.json()).tasks[0];
  });
  assert.equal(deepTask.precision_used, 'deep');
  assert.deepEqual(deepTask.params.center, sent.center);

  log('deep zoom: no seam where tiles switch from double (z = 38) to deep (z = 39)');
  // Below-left of c = i (|re|, |im| <= 1): z = 38 still renders in double, z = 39 in deep.
  // The parent/children difference across the switch must look like one between two
  // double levels (37 -> 38), which only comes from averaging.
  const X38 = 5n * 2n ** 35n - 1n, Y38 = 2n ** 36n;
  const q = 'max_iter=300&palette=classic';
  const across = await parentChildDifference(page, 38, X38, Y38, q);
  const within = await parentChildDifference(page, 37, X38 / 2n, Y38 / 2n, q);
  console.log(`web-e2e: seam check: mean |z38 - z39 children| = ${across.toFixed(2)}, |z37 - z38 children| = ${within.toFixed(2)} (0-255)`);
  assert.ok(across < within * 1.5 + 2, `a seam at the double/deep switch: ${across} vs ${within}`);

  log('Shift+click on the Mandelbrot set opens the Julia set of that c');
  await page.evaluate(() => { location.hash = '#fractal=mandelbrot&center=-0.5,0&scale=3&max_iter=300&palette=classic'; });
  await page.getByText('Scale: 3', exact).waitFor();
  const mb = await map.boundingBox();
  await page.keyboard.down('Shift');
  await page.mouse.click(mb.x + mb.width / 2 + 20, mb.y + mb.height / 2 - 30);
  await page.keyboard.up('Shift');
  await page.getByLabel('Julia c', exact).waitFor();
  const jf = await fragment(page);
  assert.equal(jf.fractal, 'julia');
  assert.ok(jf.julia_c && jf.julia_c.split(',').length === 2, `julia_c in the fragment: ${jf.julia_c}`);
  assert.equal(await page.getByLabel('Fractal', exact).inputValue(), 'julia');
  await waitFor(page, 
    tilesSettled, undefined, { timeout: 60_000 });
  await page.waitForTimeout(400);
  assert.ok(await tilesNotBlank(page), 'Julia tiles are not blank');
  await page.screenshot({ path: join(shots, '05-julia.png') });

  log('phone screen');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(800);
  await page.screenshot({ path: join(shots, '06-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  log('sign out returns to the sign-in form');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'no token left in sessionStorage');
  await page.screenshot({ path: join(shots, '07-signed-out.png') });

  await context.close();
  if (problems.length) throw new Error('browser reported problems:\n  ' + problems.join('\n  '));
  console.log(`web-e2e: PASS (screenshots in ${shots})`);
} catch (e) {
  console.error(`web-e2e: FAIL at "${step}": ${e.stack ?? e}`);
  if (problems.length) console.error('  ' + problems.join('\n  '));
  process.exitCode = 1;
} finally {
  await browser.close();
}
