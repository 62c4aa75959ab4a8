// Video heads-ups in the web client (protocol "Video heads-ups"), two
// Chromium pages. Bob is on do not disturb; Ada's call is declined for it
// and the page offers to leave a message: she records 10 s of video with
// the timer against the two minutes, sends it with Stop and send and is
// back in the lobby, told how long it was. Bob leaves do not disturb and
// his missed heads-ups play it in a <video> that decodes her camera to its
// end; dismissing it deletes it. Then from the lobby's Heads-up button, an
// audio-only message to Bob, who is online: it reaches him at once and
// plays in an <audio>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { waitFor } from './client.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});

const pages = {};
async function online(name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url);
  await page.fill('#name', name);
  await page.click('#start-submit');
  await page.waitForSelector('#lobby:not([hidden])');
  pages[name] = { page, context, errors };
  return page;
}

// In the page: frames the publish connection sent, by kind.
const sent = async () => {
  const out = { audio: 0, video: 0 };
  for (const s of (await window.parley.publish?.getStats() || new Map()).values())
    if (s.type === 'outbound-rtp') out[s.kind] += s.kind === 'video' ? s.framesSent || 0 : s.packetsSent || 0;
  return out;
};

const seconds = (mmss) => { const [m, s] = mmss.split(':').map(Number); return m * 60 + s; };

// Records in the message's room until `ms` of its media went out, the
// timer counting against the limit, then sends it; returns the seconds the
// timer showed last and the seconds the page then said were sent.
async function recordAndSend(page, ms, kind) {
  await page.waitForSelector('#meeting.message:not([hidden])');
  await page.locator('#message-bar').waitFor({ state: 'visible' });
  await page.locator('#rec-indicator').waitFor({ state: 'visible' });
  await waitFor(() => page.evaluate(sent), (s) => s[kind] > 10, `the message's ${kind} sent`, { timeout: 10000 });
  await waitFor(() => page.textContent('#message-timer'), (t) => /^00:0[1-9] \/ 02:00$/.test(t),
    'the timer counting against two minutes', { timeout: 5000 });
  // Recording until the page's own timer says `ms` went out.
  await waitFor(() => page.textContent('#message-timer'), (t) => seconds(t.split(' / ')[0]) >= ms / 1000,
    `the timer at ${ms / 1000} s`, { timeout: ms + 10000, interval: 200 });
  const timer = seconds((await page.textContent('#message-timer')).split(' / ')[0]);
  await page.click('#message-send');
  const notice = page.locator('#notice', { hasText: /^Message for Bob sent \(\d\d:\d\d\)\.$/ });
  await notice.waitFor({ timeout: 15000 });
  const said = seconds(/\((\d\d:\d\d)\)/.exec(await notice.textContent())[1]);
  assert.ok(Math.abs(said - timer) <= 1, `the timer showed ${timer} s, the page says ${said} s were sent`);
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.evaluate(() => window.parley.stream), null, 'camera and microphone closed');
  return { timer, said };
}

test('a video message after a call declined for do not disturb, played and dismissed by Bob', async () => {
  const ada = await online('Ada');
  const bob = await online('Bob');
  await bob.click('label.switch');
  await bob.locator('#dnd-note').waitFor({ state: 'visible' });
  await ada.waitForSelector('#online-people li[data-name="Bob"][data-status="dnd"]');

  await ada.click('#online-people li[data-name="Bob"] .call-btn');
  await ada.click('#online-people li[data-name="Bob"] .call-form button[type=submit]');
  await ada.locator('#message-offer').waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await ada.textContent('#message-offer'), /Leave Bob a message\?\s+They are on do not disturb/);
  assert.equal(await ada.getAttribute('#online-people li[data-name="Bob"] .headsup-btn', 'aria-label'),
    'Record a heads-up for Bob');
  await ada.click('#message-video');
  assert.ok(await ada.locator('#message-offer').isHidden());
  const { said } = await recordAndSend(ada, 10000, 'video');
  assert.ok(said >= 9, `${said} s sent`);

  // Bob hears of it once he leaves do not disturb.
  assert.equal(await bob.locator('#missed-list .message-player').count(), 0);
  await bob.click('label.switch');
  const item = bob.locator('#missed-list li.has-message');
  await item.waitFor({ timeout: 5000 });
  assert.match(await item.textContent(), /Ada called while you were on do not disturb, and left a message/);
  const player = item.locator('video.message-player');
  assert.equal(await player.getAttribute('aria-label'), 'Video message from Ada');
  await player.evaluate((v) => { v.muted = true; return v.play(); });
  const played = await waitFor(() => player.evaluate((v) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight,
    d: v.duration, err: v.error?.code || 0 })), (s) => s.t > 1.5 && s.w > 0, 'Bob\'s player plays Ada\'s video',
  { timeout: 10000, interval: 250 });
  assert.ok(Math.abs(played.d - said) <= 1.5, `${said} s sent: ${JSON.stringify(played)}`);
  // Played to its end, decoding frames all along.
  const end = await waitFor(() => player.evaluate((v) => {
    const q = v.getVideoPlaybackQuality();
    return { ended: v.ended, t: v.currentTime, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames };
  }), (s) => s.ended, 'Bob\'s player reaches the end of the message', { timeout: 20000, interval: 250 });
  assert.ok(end.frames - end.dropped > 8 * 15, `${said} s sent: ${JSON.stringify(end)}`);
  console.log(JSON.stringify({ sent: said, player: played, end }));
  const url = new URL(await player.getAttribute('src'), server.url);
  const id = url.pathname.split('/')[2];
  assert.ok(fs.existsSync(path.join(server.dataDir, 'recordings', id)));

  await item.locator('.dismiss').click();
  await item.waitFor({ state: 'detached' });
  await waitFor(() => fs.existsSync(path.join(server.dataDir, 'recordings', id)), (e) => !e,
    'the dismissed message gone from disk');
  assert.equal((await fetch(url)).status, 404);
});

test('an audio-only heads-up from the lobby reaches Bob online at once and plays', async () => {
  const ada = pages.Ada.page;
  const bob = pages.Bob.page;
  await ada.click('#online-people li[data-name="Bob"] .headsup-btn');
  await ada.locator('#message-offer').waitFor({ state: 'visible' });
  assert.ok(await ada.locator('#message-offer-why').isHidden(), 'no call to explain');
  await ada.click('#message-audio');
  await ada.waitForSelector('#meeting.message:not([hidden])');
  assert.ok(await ada.locator('#cam').isHidden(), 'no camera for an audio message');
  await recordAndSend(ada, 2500, 'audio');

  const item = bob.locator('#missed-list li.has-message');
  await item.waitFor({ timeout: 5000 });
  assert.match(await item.textContent(), /Ada left you a message/);
  const player = item.locator('audio.message-player');
  await player.evaluate((a) => a.play());
  await waitFor(() => player.evaluate((a) => a.currentTime), (t) => t > 1, 'Bob\'s player plays Ada\'s audio',
    { timeout: 10000, interval: 250 });
  await item.locator('.dismiss').click();
  await item.waitFor({ state: 'detached' });
  for (const [name, p] of Object.entries(pages)) {
    assert.deepEqual(p.errors, [], `${name}'s page errors`);
    await p.context.close();
  }
});
