// Three participants in headless Chromium join one room through the web
// client; each must decode both others' video and receive their audio
// through Parley's relay. When one leaves, the others drop to one remote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { launchChromium, inbound, waitFor } from './browser.mjs';
import { startServer } from './server.mjs';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');
let server, browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required', '--auto-select-desktop-capture-source=Entire screen']);
});
after(async () => {
  await browser?.close();
  const { code } = await server.stop();
  assert.equal(code, 0, server.output());
});


test('three participants see and hear each other, share a screen, and one leaves', async () => {
  const names = ['Ada', 'Grace', 'Linus'];
  const pages = [];
  for (const name of names) {
    const page = await browser.newPage();
    await page.goto(`http://localhost:${server.port}/r/standup`);
    await page.fill('#name', name);
    await page.click('button[type=submit]');
    await page.waitForSelector('#meeting:not([hidden])');
    pages.push(page);
  }
  const twoRemotes = (s) => {
    const v = Object.values(s);
    return v.filter((x) => x.kind === 'video' && x.frames > 30).length === 2 &&
      v.filter((x) => x.kind === 'audio' && x.packets > 50).length === 2;
  };
  for (let i = 0; i < pages.length; i++)
    await waitFor(pages[i], twoRemotes, `${names[i]} receives both others`);
  for (const page of pages)
    assert.equal(await page.locator('#tiles figure[data-participant]').count(), 2);
  // Everything the browsers received went through the relay's forwarding.
  let received = 0;
  for (const page of pages)
    for (const s of Object.values(await page.evaluate(inbound))) received += s.packets;
  const stats = await (await fetch(`${server.url}/stats`)).json();
  assert.equal(stats.transports, 6);
  assert.ok(stats.rtp_forwarded >= received, `${received} received: ${JSON.stringify(stats)}`);
  assert.ok(stats.keyframe_requests >= 6, JSON.stringify(stats)); // one per subscribed video at least
  fs.mkdirSync(outDir, { recursive: true });
  await pages[0].screenshot({ path: path.join(outDir, 'e2e-meeting.png') });

  // Active speakers (RFC 6464 levels of the fake microphones' tones): every
  // page hears of both other participants speaking at some point.
  for (let i = 0; i < pages.length; i++) {
    const deadline = Date.now() + 20000;
    let seen = 0;
    while (Date.now() < deadline) {
      seen = await pages[i].evaluate(() => [...window.parley.speakersSeen].filter((id) =>
        document.querySelector(`figure[data-participant="${id}"]`)).length);
      if (seen >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(seen, 2, `${names[i]} hears of both others speaking`);
  }

  // Garbage at the media port, from a stranger: random bytes, truncated
  // STUN, STUN for a real transport's ufrag with a forged MESSAGE-INTEGRITY,
  // and RTP. All dropped and counted; the meeting goes on.
  const ufrag = await pages[0].evaluate(() =>
    window.parley.publish.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]);
  const before = await (await fetch(`${server.url}/stats`)).json();
  const sock = dgram.createSocket('udp4');
  const junk = [];
  for (let i = 0; i < 100; i++) junk.push(crypto.randomBytes(1 + (i * 13) % 1200));
  for (let i = 0; i < 50; i++) junk.push(Buffer.from([0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, ...crypto.randomBytes(i % 12)]));
  for (let i = 0; i < 50; i++) {
    const user = Buffer.from(`${ufrag}:evil`);
    const pad = (4 - (user.length % 4)) % 4;
    const attrs = Buffer.concat([Buffer.from([0, 6, 0, user.length]), user, Buffer.alloc(pad),
      Buffer.from([0, 8, 0, 20]), crypto.randomBytes(20)]);
    const hdr = Buffer.from([0, 1, 0, attrs.length, 0x21, 0x12, 0xa4, 0x42]);
    junk.push(Buffer.concat([hdr, crypto.randomBytes(12), attrs]));
  }
  for (let i = 0; i < 50; i++) junk.push(Buffer.concat([Buffer.from([0x80, 96, 0, i]), crypto.randomBytes(100)]));
  for (const b of junk) await new Promise((r) => sock.send(b, server.mediaPort, '127.0.0.1', r));
  sock.close();
  let after;
  for (let k = 0; k < 50; k++) {
    after = await (await fetch(`${server.url}/stats`)).json();
    const dropped = (after.dropped_unknown_source - before.dropped_unknown_source) +
      (after.dropped_by_transport - before.dropped_by_transport);
    if (dropped >= junk.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((after.dropped_unknown_source - before.dropped_unknown_source) +
    (after.dropped_by_transport - before.dropped_by_transport) >= junk.length, JSON.stringify({ before, after }));
  const framesNow = Object.values(await pages[1].evaluate(inbound)).reduce((a, x) => a + x.frames, 0);
  await waitFor(pages[1], (s) => Object.values(s).reduce((a, x) => a + x.frames, 0) > framesNow + 60,
    'video keeps decoding after the garbage');

  // Linus scrolls Ada's tile out of view: her video is paused for him (no
  // frames), Grace's keeps coming; back in view, Ada's video resumes.
  const adaId = await pages[2].evaluate(() => [...document.querySelectorAll('#tiles figure[data-participant]')]
    .find((f) => f.querySelector('figcaption').textContent === 'Ada').dataset.participant);
  const framesBy = (s) => Object.fromEntries(Object.entries(s).filter(([, x]) => x.kind === 'video').map(([m, x]) => [m, x.frames]));
  const videoMidOf = async (page, pid) => page.evaluate((p) => {
    const t = window.parley.subscribe.getTransceivers().find((x) => x.receiver.track.kind === 'video' &&
      document.querySelector(`figure[data-participant="${p}"] video`)?.srcObject?.getTracks().includes(x.receiver.track));
    return t?.mid;
  }, pid);
  const adaMid = await videoMidOf(pages[2], adaId);
  assert.ok(adaMid !== undefined);
  await pages[2].evaluate((p) => { document.querySelector(`figure[data-participant="${p}"]`).style.display = 'none'; }, adaId);
  await new Promise((r) => setTimeout(r, 1500)); // frames in flight drain
  const f1 = framesBy(await pages[2].evaluate(inbound));
  await new Promise((r) => setTimeout(r, 2000));
  const f2 = framesBy(await pages[2].evaluate(inbound));
  assert.equal(f2[adaMid], f1[adaMid], 'paused video must not advance');
  const otherMid = Object.keys(f2).find((m) => m !== adaMid);
  assert.ok(f2[otherMid] > f1[otherMid], 'the other video keeps decoding');
  await pages[2].evaluate((p) => { document.querySelector(`figure[data-participant="${p}"]`).style.display = ''; }, adaId);
  await waitFor(pages[2], (s) => (framesBy(s)[adaMid] || 0) > f2[adaMid] + 10, 'Ada resumes for Linus');

  // Ada shares her screen: a second video track with source "screen" that
  // the others receive and decode in a tile of its own.
  await pages[0].click('#screen');
  for (let i = 1; i < pages.length; i++) {
    await waitFor(pages[i], (s) => Object.values(s).filter((x) => x.kind === 'video' && x.frames > 10).length === 3,
      `${names[i]} decodes Ada's screen share`);
    await pages[i].waitForSelector('#tiles figure[data-screen]');
  }
  await pages[1].screenshot({ path: path.join(outDir, 'e2e-screen-share.png') });

  // Linus leaves: the others' tiles and subscriptions drop to one remote.
  await pages[2].click('#leave');
  for (const [i, page] of pages.slice(0, 2).entries()) {
    await page.waitForFunction(() => new Set([...document.querySelectorAll('#tiles figure[data-participant]')]
      .map((f) => f.dataset.participant)).size === 1);
    // Ada still receives Grace's camera; Grace still receives Ada's camera and screen.
    const videos = i === 0 ? 1 : 2;
    await waitFor(page, (s) => Object.values(s).filter((x) => x.kind === 'video').length === videos,
      'subscriptions drop to one remote participant');
  }
  for (const page of pages) await page.close();
});
