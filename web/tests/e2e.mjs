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
