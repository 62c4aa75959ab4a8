// Native bots (parley-bot) against the real server: every stream of a
// meeting arrives, decodes to the right sender's picture and tone, rooms stay
// apart, leaving renegotiates, and 100 bots churning leave nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stats, pollStats, downlinkLine, drained as isDrained } from './server.mjs';
import { runBots, workerOf, describe, fastBotBin } from './bots.mjs';

const servers = [];
after(async () => {
  for (const s of servers) {
    const { code } = await s.stop();
    assert.equal(code, 0, `clean exit, no leak: ${s.output()}`);
  }
});

async function server(extra, ports) {
  const s = await startServer(extra, ports);
  servers.push(s);
  return s;
}

// The bots are gone: the server drains (closing is asynchronous there too).
const drained = (s) => pollStats(s, isDrained, 'no room, participant, transport or connection left');

// Every decoded stream shows the right sender and no corrupt frame.
function assertClean(report) {
  for (const b of report.bots) {
    assert.equal(b.errors, 0, `${b.name}: ${b.last_error}`);
    assert.equal(b.unknown_ssrc_packets, 0, `${b.name} got packets of no announced stream`);
    for (const s of b.streams) {
      if (!s.decoded) continue;
      // A stream that ended before its first picture (a peer of a churned
      // room that left as it came) has no sender to show.
      if (s.kind === 'video' && s.decoded.frames === 0 && s.decoded.skipped === 0 &&
        s.decoded.identity < 0) continue;
      if (!s.decoded.identity_ok) {
        const { decoded, ...rest } = s;
        assert.fail(`${b.name} <- ${s.from} ${s.kind}: ${JSON.stringify(decoded)}\n${JSON.stringify(rest)}`);
      }
      if (s.kind === 'video') {
        const { decoded, ...rest } = s;
        assert.equal(decoded.corrupt, 0, `${b.name} <- ${s.from}: corrupt frames\n${JSON.stringify(decoded)}\n${JSON.stringify(rest)}`);
        assert.equal(s.decoded.out_of_order, 0, `${b.name} <- ${s.from}: frames out of order ` +
          `(counter before, counter, TID, key: ${JSON.stringify(s.decoded.disorder)})`);
      } else {
        assert.equal(s.decoded.errors, 0, `${b.name} <- ${s.from}: Opus decode errors`);
      }
    }
  }
}

test('five bots in one room decode each other\'s audio and video', async () => {
  const s = await server();
  const report = await runBots(s, ['--room', 'five', '--per-room', '5', '--seconds', '8']).done;
  // The relay's account of the downlinks, for a video that fell short.
  const relay = downlinkLine(await stats(s));
  assertClean(report);
  for (const b of report.bots) {
    const others = report.bots.filter((o) => o !== b).map((o) => o.name).sort();
    for (const kind of ['audio', 'video']) {
      const from = b.streams.filter((x) => x.kind === kind).map((x) => x.from).sort();
      assert.deepEqual(from, others, `${b.name} receives ${kind} from every other bot\n${describe(report)}`);
    }
    for (const x of b.streams) {
      assert.ok(x.decoded, `${b.name} decodes ${x.from}/${x.kind}`);
      // Eight seconds minus the time to connect: most of 240 frames / 400 packets.
      if (x.kind === 'video') assert.ok(x.decoded.frames > 120, `${b.name} <- ${x.from}: ${x.decoded.frames} frames; ${relay}`);
      else assert.ok(x.decoded.frames > 200, `${b.name} <- ${x.from}: ${x.decoded.frames} audio frames`);
      assert.ok(x.decoded.identity >= 0, `${b.name} <- ${x.from} ${x.kind}: identity read`);
    }
  }
  await drained(s);
});

test('two rooms on different workers stay isolated', async () => {
  const s = await server(['--workers', '2']);
  const rooms = ['iso-a'];
  for (let i = 0; rooms.length < 2; i++)
    if (workerOf(`iso-${i}`, 2) !== workerOf(rooms[0], 2)) rooms.push(`iso-${i}`);
  const report = await runBots(s, ['--room-list', rooms.join(','), '--per-room', '3', '--clips', '6',
    '--seconds', '6']).done;
  assertClean(report);
  const roomOf = new Map(report.bots.map((b) => [b.name, b.room]));
  const ports = new Map();
  for (const b of report.bots) {
    ports.set(b.room, b.server_ports[0]);
    assert.equal(b.server_ports[0], b.server_ports[1], 'both transports of a room on its worker');
    assert.equal(b.streams.length, 4, `${b.name}: two others, audio and video\n${describe(report)}`);
    for (const x of b.streams) {
      assert.equal(roomOf.get(x.from), b.room, `${b.name} (${b.room}) got a stream of ${x.from}`);
      assert.ok(x.packets > 50, `${b.name} <- ${x.from} ${x.kind}: ${x.packets} packets`);
    }
  }
  assert.notEqual(ports.get(rooms[0]), ports.get(rooms[1]), 'the rooms are on different workers');
  await drained(s);
});

test('a bot that leaves stops being forwarded and its subscribers renegotiate', async () => {
  const s = await server();
  const report = await runBots(s, ['--room', 'leave', '--per-room', '3', '--seconds', '7',
    '--leave-after', '3']).done;
  assertClean(report);
  const leaver = report.bots.find((b) => b.name === 'bot-2');
  assert.equal(leaver.in_room, false);
  for (const b of report.bots.filter((x) => x !== leaver)) {
    assert.equal(b.peers_left, 1, `${b.name} was told that bot-2 left`);
    const fromLeaver = b.streams.filter((x) => x.from === 'bot-2');
    assert.equal(fromLeaver.length, 2);
    for (const x of fromLeaver) {
      // Ended by a new subscribe offer (section inactive) before the run ended.
      assert.equal(x.active, false);
      assert.equal(x.packets_after_end, 0, `${b.name} <- bot-2 ${x.kind}: forwarded after the renegotiation`);
      assert.ok(x.seconds < 3.5, `${b.name} <- bot-2 ${x.kind} lasted ${x.seconds} s`);
    }
    const other = b.streams.filter((x) => x.from !== 'bot-2');
    assert.equal(other.length, 2);
    for (const x of other) assert.ok(x.seconds > 5, `${b.name} <- ${x.from} ${x.kind} kept flowing`);
  }
  await drained(s);
});

test('100 bots joining and leaving in waves leave nothing behind', async () => {
  const s = await server();
  // 20 rooms of 5, in 4 waves of 25 bots that stay 3 s each, 2 s apart.
  // The bots are the instrument here (the server is what is churned): the
  // release build keeps pace with 100 of them.
  const report = await runBots(s, ['--room', 'churn', '--rooms', '20', '--per-room', '5',
    '--waves', '4', '--stay', '3', '--seconds', '9', '--decode', '1'], fastBotBin).done;
  assertClean(report);
  assert.equal(report.bots.length, 100);
  // Streams whose peer left before their first picture are few: most of
  // the decoded videos show pictures (of all 400 video streams, 396 and
  // 398 had a complete frame in two runs against the sanitizer build).
  const videos = report.bots.flatMap((b) => b.streams.filter((x) => x.kind === 'video' && x.decoded));
  const shown = videos.filter((x) => x.decoded.frames > 0).length;
  assert.ok(shown >= 0.9 * videos.length, `${shown} of ${videos.length} decoded videos showed pictures`);
  for (const b of report.bots) {
    assert.equal(b.joins, 1, `${b.name} joined`);
    assert.ok(b.connect_ms_pub >= 0 && b.connect_ms_sub >= 0, `${b.name} connected both transports`);
    assert.equal(b.in_room, false);
    assert.ok(b.streams.length >= 2, `${b.name} received someone`);
  }
  await drained(s);
});

test('a bot whose WebSocket is cut for 10 s resumes as the same participant; the others never see it leave', async () => {
  const s = await server();
  const report = await runBots(s, ['--room', 'cut', '--per-room', '3', '--seconds', '16',
    '--cut-at', '3', '--cut-for', '10']).done;
  assertClean(report);
  const cut = report.bots.find((b) => b.name === 'bot-2');
  assert.equal(cut.cuts, 1);
  assert.equal(cut.resumes, 1, 'resumed');
  assert.equal(cut.rejoins, 0, 'not a new participant');
  for (const b of report.bots.filter((x) => x !== cut)) {
    assert.equal(b.peers_left, 0, `${b.name} never saw bot-2 leave`);
    const from = b.streams.filter((x) => x.from === 'bot-2');
    assert.equal(from.length, 2, 'one audio and one video stream from bot-2, throughout');
    assert.ok(from.every((x) => x.participant_id === cut.participant_id));
    for (const x of from) assert.ok(x.seconds > 14, `bot-2 ${x.kind} flowed ${x.seconds} s of 16`);
  }
  await pollStats(s, (st) => st.resumed === 1, 'one session counted as resumed');
  await drained(s);
});

test('a bot silent for longer than the grace period leaves with reason timeout, then joins again', async () => {
  const s = await server(['--reconnect-grace', '3']);
  const report = await runBots(s, ['--room', 'gone', '--per-room', '3', '--seconds', '16',
    '--cut-at', '3', '--cut-for', '8']).done;
  assertClean(report);
  const cut = report.bots.find((b) => b.name === 'bot-2');
  assert.equal(cut.resumes, 0);
  assert.equal(cut.rejoins, 1, 'came back as a new participant');
  for (const b of report.bots.filter((x) => x !== cut)) {
    assert.equal(b.peers_timed_out, 1, `${b.name} saw bot-2 leave with reason timeout`);
    const ids = new Set(b.streams.filter((x) => x.from === 'bot-2').map((x) => x.participant_id));
    assert.equal(ids.size, 2, 'streams of the old and of the new participant');
  }
  await pollStats(s, (st) => st.timed_out === 1, 'one participant counted as timed out');
  await drained(s);
});

test('after a server restart, bots rejoin by themselves within 10 s', async () => {
  const first = await startServer();
  const run = runBots(first, ['--room', 'restart', '--per-room', '3', '--seconds', '22']);
  // The restart comes under a meeting: all three in, media flowing.
  await pollStats(first, (st) => st.participants === 3 && st.transports === 6 && st.rtp_forwarded > 300,
    'three bots in the room with media forwarded', { timeout: 10000 });
  const { code } = await first.stop();
  assert.equal(code, 0, first.output());
  const second = await server([], { port: first.port, mediaPort: first.mediaPort });
  const restartedAt = Date.now();
  const report = await run.done;
  const runEnd = Date.now();
  for (const b of report.bots) {
    assert.equal(b.rejoins, 1, `${b.name} joined the new server`);
    assert.equal(b.errors, 0, b.last_error);
    // The streams of the others' new participants began within 10 s of
    // the restart and flowed to the end.
    const others = report.bots.filter((o) => o !== b);
    for (const o of others) {
      const now = b.streams.filter((x) => x.participant_id === o.participant_id);
      assert.equal(now.length, 2, `${b.name} receives ${o.name} again`);
      for (const x of now) {
        const startedAfter = (runEnd - restartedAt) / 1000 - x.seconds;
        assert.ok(startedAfter < 10, `${b.name} <- ${o.name} ${x.kind} resumed ${startedAfter.toFixed(1)} s after the restart`);
        assert.ok(x.packets > 50);
      }
    }
  }
  await drained(second);
});
