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
import { launchChromium, inbound, receives, pageUntil } from './browser.mjs';
import { startServer, pollStats, stats as statsOf } from './server.mjs';
import { waitFor } from './client.mjs';

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
    await receives(pages[i], twoRemotes, `${names[i]} receives both others`);
  for (const [i, page] of pages.entries())
    await pageUntil(page, () => document.querySelectorAll('#tiles figure[data-participant]').length,
      (n) => n === 2, `${names[i]} shows a tile for each other`);
  // Everything the browsers received went through the relay's forwarding,
  // but for the padding of its probes, which browsers count as received
  // (counted before the reading of /stats, which can only be higher).
  let received = 0;
  for (const page of pages)
    for (const s of Object.values(await page.evaluate(inbound))) received += s.packets;
  // At least one keyframe request per publisher's video: the relay merges
  // the requests of its two subscribers when they come within the keyframe
  // limiter's interval (both tiles the same size now, wanting the same
  // layer at once), so one per subscribed video is not a given.
  const stats = await pollStats(server, (st) => st.transports === 6 && st.keyframe_requests >= 3,
    'six transports and a keyframe request per published video');
  assert.ok(stats.rtp_forwarded + stats.retransmissions + stats.padding_packets >= received,
    `${received} received: ${JSON.stringify(stats)}`);
  fs.mkdirSync(outDir, { recursive: true });
  await pages[0].screenshot({ path: path.join(outDir, 'e2e-meeting.png') });

  // Active speakers (RFC 6464 levels of the fake microphones' tones): every
  // page hears of both other participants speaking at some point.
  for (let i = 0; i < pages.length; i++) {
    const seen = await pageUntil(pages[i], () => [...window.parley.speakersSeen].filter((id) =>
      document.querySelector(`figure[data-participant="${id}"]`)).length, (n) => n >= 2,
    `${names[i]} hears of both others speaking`, { timeout: 20000, interval: 250 });
    assert.equal(seen, 2, `${names[i]} hears of both others speaking`);
  }

  // Garbage at the media port, from a stranger: random bytes, truncated
  // STUN, STUN for a real transport's ufrag with a forged MESSAGE-INTEGRITY,
  // and RTP. All dropped and counted; the meeting goes on.
  const ufrag = await pages[0].evaluate(() =>
    window.parley.publish.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]);
  const before = await statsOf(server);
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
  await pollStats(server, (after) => (after.dropped_unknown_source - before.dropped_unknown_source) +
    (after.dropped_by_transport - before.dropped_by_transport) >= junk.length,
  `all ${junk.length} junk datagrams dropped (before: ${JSON.stringify(before)})`);
  const framesNow = Object.values(await pages[1].evaluate(inbound)).reduce((a, x) => a + x.frames, 0);
  await receives(pages[1], (s) => Object.values(s).reduce((a, x) => a + x.frames, 0) > framesNow + 60,
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
  // The pause has taken effect once, over a second, nothing of Ada's video
  // arrived or decoded while Grace's did (what was in flight has drained).
  const otherVideo = async () => Object.entries(await pages[2].evaluate(inbound))
    .find(([m, x]) => x.kind === 'video' && m !== adaMid)[0];
  const otherMid = await otherVideo();
  const pausedFor = async (ms) => {
    const a = await pages[2].evaluate(inbound);
    await new Promise((r) => setTimeout(r, ms)); // the window watched
    const b = await pages[2].evaluate(inbound);
    return { ada: [a[adaMid], b[adaMid]], other: [a[otherMid], b[otherMid]] };
  };
  await waitFor(() => pausedFor(1000), ({ ada: [a, b], other: [c, d] }) => a.packets === b.packets &&
    a.frames === b.frames && d.frames > c.frames, 'Ada\'s video to stop reaching Linus, Grace\'s not',
  { timeout: 20000, interval: 0 });
  // Then it stays paused: 2 s in which it must not advance.
  const f1 = framesBy(await pages[2].evaluate(inbound));
  await new Promise((r) => setTimeout(r, 2000)); // the window watched
  const f2 = framesBy(await pages[2].evaluate(inbound));
  assert.equal(f2[adaMid], f1[adaMid], 'paused video must not advance');
  assert.ok(f2[otherMid] > f1[otherMid], 'the other video keeps decoding');
  await pages[2].evaluate((p) => { document.querySelector(`figure[data-participant="${p}"]`).style.display = ''; }, adaId);
  await receives(pages[2], (s) => (framesBy(s)[adaMid] || 0) > f2[adaMid] + 10, 'Ada resumes for Linus');

  // Ada shares her screen: a second video track with source "screen" that
  // the others receive and decode in a tile of its own.
  await pages[0].click('#screen');
  for (let i = 1; i < pages.length; i++) {
    await receives(pages[i], (s) => Object.values(s).filter((x) => x.kind === 'video' && x.frames > 10).length === 3,
      `${names[i]} decodes Ada's screen share`);
    await pages[i].waitForSelector('#tiles figure[data-screen]');
  }
  await pages[1].screenshot({ path: path.join(outDir, 'e2e-screen-share.png') });

  // Linus leaves: the others' tiles and subscriptions drop to one remote.
  await pages[2].click('#leave');
  for (const [i, page] of pages.slice(0, 2).entries()) {
    await pageUntil(page, () => new Set([...document.querySelectorAll('#tiles figure[data-participant]')]
      .map((f) => f.dataset.participant)).size, (n) => n === 1, `${names[i]}'s tiles drop to one participant`);
    // Ada still receives Grace's camera; Grace still receives Ada's camera and screen.
    const videos = i === 0 ? 1 : 2;
    await receives(page, (s) => Object.values(s).filter((x) => x.kind === 'video').length === videos,
      'subscriptions drop to one remote participant');
  }
  for (const page of pages) await page.close();
});
