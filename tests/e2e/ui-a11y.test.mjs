// Accessibility of the web client's views, scanned with axe-core in
// Chromium: the pre-join screen of a meeting link, the lobby and its
// pre-join view, the meeting with each side panel open, and a call
// (incoming card, call view). No view may have a serious or critical
// violation (missing labels, too little contrast, keyboard traps, ...);
// lesser ones are listed in the output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { launchChromium, pageUntil } from './browser.mjs';
import { startServer } from './server.mjs';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let server, browser;
const errors = [];

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
  assert.deepEqual(errors, [], 'no uncaught errors in the pages');
});

// Each page in a context of its own, as separate people's browsers.
async function open(path) {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://localhost:${server.port}${path}`);
  return page;
}

// Scans the page as it is (evaluated through the debugger, which the
// page's Content-Security-Policy does not apply to), asserting no serious
// or critical violation.
async function scan(page, view) {
  if (await page.evaluate(() => typeof window.axe === 'undefined')) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = found.filter((v) => !bad.includes(v));
  console.log(`# ${view}: ${found.length ? found.map((v) => `${v.id} (${v.impact})`).join(', ') : 'no violations'}`);
  assert.deepEqual(bad, [], `${view}: serious or critical accessibility violations`);
  return minor;
}

test('the pre-join screen of a meeting link', async () => {
  const page = await open('/r/a11y');
  await pageUntil(page, () => document.getElementById('pick-camera').options.length, (n) => n > 0, 'the pickers filled');
  await scan(page, 'pre-join (meeting link)');
  // Camera off: the overlay and pressed toggles.
  await page.click('#prejoin-cam');
  await scan(page, 'pre-join, camera off');
  await page.context().close();
});

test('the lobby and the pre-join view of a room chosen there', async () => {
  const page = await open('/');
  await scan(page, 'start');
  await page.fill('#name', 'Lobby Lee');
  await page.click('#start-submit');
  await page.waitForSelector('#lobby:not([hidden])');
  await scan(page, 'lobby');
  await page.fill('#lobby-room', 'a11y-lobby');
  await page.press('#lobby-room', 'Enter');
  await page.waitForSelector('#prejoin:not([hidden])');
  await pageUntil(page, () => document.getElementById('pick-camera').options.length, (n) => n > 0, 'the pickers filled');
  await scan(page, 'pre-join (from the lobby)');
  // Back leaves the devices off and the lobby shown.
  await page.click('#prejoin-back');
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.evaluate(() => window.parley.stream), null);
  // By keyboard alone: the room, Enter, the Join button has the focus, Enter.
  await page.focus('#lobby-room');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#prejoin:not([hidden])');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'prejoin-join');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#meeting:not([hidden])');
  assert.equal(await page.textContent('#room-name'), 'a11y-lobby');
  await page.context().close();
});

test('the meeting, with each side panel open', async () => {
  const ada = await open('/r/a11y-meeting');
  await ada.fill('#name', 'Ada');
  await ada.click('#start-submit');
  const bob = await open('/r/a11y-meeting');
  await bob.fill('#name', 'Bob');
  await bob.click('#start-submit');
  await ada.waitForSelector('#tiles figure[data-participant] video');
  await pageUntil(ada, () => window.parley.publish?.connectionState, (s) => s === 'connected', 'Ada connected');
  await scan(ada, 'meeting');
  for (const panel of ['people', 'chat', 'devices']) {
    await ada.click(`#${panel}-toggle`);
    assert.equal(await ada.getAttribute(`#${panel}-toggle`, 'aria-expanded'), 'true');
    await scan(ada, `meeting, ${panel} panel`);
  }
  await bob.context().close();
  await ada.context().close();
});

test('a call: the incoming card and the call view', async () => {
  const lobby = async (name) => {
    const page = await open('/');
    await page.fill('#name', name);
    await page.click('#start-submit');
    await page.waitForSelector('#lobby:not([hidden])');
    return page;
  };
  const alice = await lobby('Alice');
  const bob = await lobby('Bob');
  const row = '#online-people li[data-name="Bob"]';
  await alice.click(`${row} .call-btn`);
  await alice.click(`${row} .call-form button[type=submit]`);
  await bob.waitForSelector('#incoming:not([hidden])');
  await scan(bob, 'incoming call');
  await scan(alice, 'outgoing call');
  await bob.click('#accept-call');
  await bob.waitForSelector('#meeting.call:not([hidden])');
  await pageUntil(bob, () => window.parley.publish?.connectionState, (s) => s === 'connected', 'Bob connected');
  await scan(bob, 'call view');
  await alice.context().close();
  await bob.context().close();
});
