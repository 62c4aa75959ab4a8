// Simulcast with native bots: six bots publish their camera as three VP8
// layers (q 160x90, h 320x180, f 640x360, three temporal layers each, no
// a=ssrc, MID/RID header extensions, as Chrome sends it), each asks the
// server for every remote video at its own size, and each must decode, from
// every other bot, the layer the relay owes it: the smallest layer at least
// the asked size, or the largest when it asks for none. Switching layers
// must not break decoding, and the picture ids and TL0PICIDX the relay
// rewrites must run on without a gap.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, pollStats, stats, drained as isDrained } from './server.mjs';
import { runBots, fastBotBin } from './bots.mjs';

const servers = [];
after(async () => {
  for (const s of servers) {
    const { code } = await s.stop();
    assert.equal(code, 0, `clean exit, no leak: ${s.output()}`);
  }
});

const layers = [[160, 90], [320, 180], [640, 360]];
// What each bot asks for, by its place in the room, and the layer it is owed.
const asks = [[160, 90], [200, 100], [320, 180], [400, 200], [640, 360], [0, 0]];
function owed([w, h]) {
  if (!w && !h) return layers[layers.length - 1];
  return layers.find(([lw, lh]) => lw >= w && lh >= h) || layers[layers.length - 1];
}

test('six simulcast bots asking for six sizes each decode the layer they are owed', async () => {
  const s = await startServer();
  servers.push(s);
  // The bots are the instrument (30 decoders up to 640x360): the release
  // build keeps pace when the server under test is the sanitizer's.
  const report = await runBots(s, ['--room', 'simulcast', '--per-room', '6', '--seconds', '12',
    '--simulcast', '--max-size', asks.map(([w, h]) => `${w}x${h}`).join(',')], fastBotBin).done;
  const byName = new Map(report.bots.map((b) => [b.name, b]));
  const problems = [];
  for (const [i, b] of report.bots.entries()) {
    const ask = asks[i % asks.length];
    const [ow, oh] = owed(ask);
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    assert.equal(b.unknown_ssrc_packets, 0, `${b.name} got packets of no announced stream`);
    assert.deepEqual(b.sent.layers.map((l) => l.rid), ['q', 'h', 'f'], `${b.name} sends three layers`);
    assert.equal(b.subscriptions_sent, ask[0] || ask[1] ? 5 : 0, `${b.name} asked for its size per track`);
    const video = b.streams.filter((x) => x.kind === 'video');
    assert.equal(video.length, 5, `${b.name} receives video from every other bot`);
    for (const x of video) {
      const d = x.decoded;
      assert.ok(d, `${b.name} decodes ${x.from}`);
      const atOwed = d.sizes[`${ow}x${oh}`] || 0;
      console.log(`# ${b.name} asks ${ask[0]}x${ask[1]} <- ${x.from}: ${d.width}x${d.height} last, ` +
        `sizes ${JSON.stringify(d.sizes)}, ${d.frames} decoded, ${d.decode_errors} decoder errors, ` +
        `${d.corrupt} corrupt, ${d.skipped} waiting for a keyframe, picture id gaps ${x.picture_id_gaps}, ` +
        `TL0PICIDX errors ${x.tl0picidx_errors}, frames by TID ${JSON.stringify(x.frames_by_tid)}, ` +
        `${x.freezes} freezes (${x.freeze_ms} ms), ${x.keyframes} keyframes, ${x.plis_sent} PLIs sent`);
      const where = `${b.name} (asks ${ask[0]}x${ask[1]}) <- ${x.from}`;
      if (d.width !== ow || d.height !== oh) problems.push(`${where}: decodes ${d.width}x${d.height}, owed ${ow}x${oh}`);
      // Before the request reaches the relay another layer may come first.
      if (atOwed < 0.8 * d.frames) problems.push(`${where}: only ${atOwed} of ${d.frames} pictures at ${ow}x${oh}`);
      if (d.frames < 200) problems.push(`${where}: ${d.frames} pictures decoded in 12 s`);
      if (d.decode_errors || d.corrupt) problems.push(`${where}: ${d.decode_errors} decoder errors, ${d.corrupt} corrupt`);
      if (!d.identity_ok) problems.push(`${where}: wrong sender ${d.identity}`);
      if (d.out_of_order) {
        problems.push(`${where}: ${d.out_of_order} pictures out of order ` +
          `(counter before, counter, TID, key: ${JSON.stringify(d.disorder)})`);
      }
      if (x.picture_id_gaps || x.tl0picidx_errors)
        problems.push(`${where}: picture id gaps ${x.picture_id_gaps}, TL0PICIDX errors ${x.tl0picidx_errors}`);
      if (!byName.has(x.from)) problems.push(`${where}: from no bot of the room`);
    }
  }
  const sum = report.summary;
  console.log(`# ${sum.streams} streams, ${sum.video_frames_decoded} pictures decoded, ` +
    `${sum.corrupt_frames} corrupt, loss ${(100 * sum.loss).toFixed(3)} %, freezes ${sum.freezes} ` +
    `(${sum.freeze_ms} ms), delay p50/p99 ${sum.delay_us?.p50}/${sum.delay_us?.p99} us`);
  // The relay's own account: every packet bound to a layer, and the
  // switches from the largest layer (sent before a size arrives) counted.
  // Printed before the problems: a pause or a dropped backlog explains
  // pictures left out.
  const st = await stats(s);
  console.log(`# server: ${st.layer_switches} layer switches, ${st.layer_keyframe_requests} keyframe ` +
    `requests to layers, ${st.dropped_unknown_ssrc} packets of no track, ${st.video_pauses} video ` +
    `pauses, ${st.video_flushes} video flushes, ${st.pacer_refused} refused by pacers`);
  assert.deepEqual(problems, []);
  assert.equal(st.dropped_unknown_ssrc, 0);
  // A subscriber that decoded another layer before the one it is owed
  // was switched, and the relay counts it. Whether one was depends on
  // whether a bot's size reached the relay before its first picture did.
  const switched = report.bots.reduce((n, b) => n + b.streams.filter((x) => x.kind === 'video' &&
    x.decoded && Object.keys(x.decoded.sizes).length > 1).length, 0);
  console.log(`# ${switched} streams decoded at more than one size`);
  if (switched) assert.ok(st.layer_switches > 0, `${switched} streams switched layers: the switches are counted`);
  await pollStats(s, isDrained, 'no room, participant, transport or connection left');
});
