// A cluster of three nodes and Redis (docs/cluster.md), each node in a
// network namespace of its own (cluster.mjs; needs root): 30 bots in 10
// rooms join through the nodes in turn and are placed across them, each
// room on one node; a node hosting 3 rooms is SIGKILLed and its bots are
// back in their rooms on the others; Redis is restarted and the nodes
// carry on; a draining node sends a new room elsewhere; the web client
// follows a redirect to its room's node; every bot decodes its room
// throughout. One cluster and one run of bots for every case.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.mjs';
import { runBots, fastBotBin, describe as describeReport } from './bots.mjs';
import { connect, waitFor } from './client.mjs';
import { launchChromium, pageUntil, videoFrames } from './browser.mjs';

const ROOMS = Array.from({ length: 10 }, (_, i) => `r${i}`);
const SECONDS = 45;

// {room: [node indexes hosting it]} and participants per room.
function summarize(placement) {
  const where = {};
  const count = {};
  for (const { node, rooms } of placement) {
    for (const [room, n] of Object.entries(rooms)) {
      (where[room] ||= []).push(node);
      count[room] = (count[room] || 0) + n;
    }
  }
  return { where, count };
}

// Every room of ROOMS hosted, with `per` participants, on exactly one node.
const settled = (per) => (p) => {
  const { where, count } = summarize(p);
  return ROOMS.every((r) => where[r]?.length === 1 && count[r] === per);
};

describe('cluster', { skip: process.getuid() !== 0 && 'needs root for network namespaces' }, () => {
  let cluster;
  let bots;
  let killed;
  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    // Three bot processes, one bot per room each, entering through the
    // nodes in turn from a random first one: most joins are redirected.
    // The release build's bots when there is one: they are the load here.
    const ws = cluster.nodes.map((n) => n.ws);
    const first = Math.floor(Math.random() * ws.length);
    bots = [0, 1, 2].map((k) => {
      const order = ws.map((_, i) => ws[(first + k + i) % ws.length]);
      return runBots({ ws: order.join(',') }, ['--room-list', ROOMS.join(','), '--per-room', '1',
        '--first-index', String(k * 10), '--seconds', String(SECONDS), '--bind', cluster.hostAddr],
      fastBotBin);
    });
  });
  after(async () => {
    for (const b of bots || []) b.kill();
    const ends = await cluster?.stop() || [];
    // Every node but the one killed exits 0 (a sanitizer build: no leak).
    for (const e of ends) {
      if (e.index === killed?.index) continue;
      assert.equal(e.code, 0, `node ${e.index}: ${e.sig || ''}\n${e.output}`);
    }
  });

  it('places 30 bots in 10 rooms across the nodes, each room on one node', async () => {
    const p = await waitFor(() => cluster.placement(), settled(3), 'every room placed with its 3 bots',
      { timeout: 20000, interval: 250 });
    const perNode = p.map(({ node, rooms }) => `${node}:${Object.keys(rooms).length}`);
    console.log(`rooms per node: ${perNode.join(' ')}`);
    for (const { rooms } of p) assert.ok(Object.keys(rooms).length <= ROOMS.length / 2, perNode.join(' '));
    // Redis says the same: each room claimed by the node hosting it.
    const ids = Object.fromEntries(await Promise.all(cluster.nodes.map(async (n) =>
      [(await n.stats()).cluster.node_id, n.index])));
    const { where } = summarize(p);
    for (const r of ROOMS) {
      const owner = cluster.redisCli('GET', `parley:room:${r}`).trim();
      assert.equal(ids[owner], where[r][0], `claim of ${r}`);
    }
    const redirected = (await Promise.all(cluster.nodes.map((n) => n.stats())))
      .reduce((s, st) => s + st.redirected, 0);
    assert.ok(redirected >= 10, `joins redirected: ${redirected}`);
  });

  it('takes the web client to the node hosting its room', async () => {
    const { where } = summarize(await cluster.placement());
    const room = ROOMS[0];
    const host = where[room][0];
    const entry = cluster.nodes.find((n) => n.index !== host);
    // The camera wants a secure context: these plain-HTTP origins count as one.
    const browser = await launchChromium(
      [`--unsafely-treat-insecure-origin-as-secure=${cluster.nodes.map((n) => n.url).join(',')}`]);
    try {
      const page = await browser.newPage();
      await page.goto(`${entry.url}/r/${room}`);
      await page.fill('#name', 'Chromium');
      await page.click('button[type=submit]');
      await page.waitForSelector('#meeting:not([hidden])', { timeout: 15000 });
      assert.equal(await page.evaluate(() => window.parley.session.wsUrl), cluster.nodes[host - 1].ws);
      assert.equal((await cluster.nodes[host - 1].rooms())[room], 4);
      await pageUntil(page, videoFrames, (f) => f > 30, 'the bots\' video', { timeout: 15000 });
      await page.click('#leave');
      await waitFor(() => cluster.nodes[host - 1].rooms(), (r) => r[room] === 3, 'the page left');
    } finally {
      await browser.close();
    }
  });

  it('moves the bots of a node killed with SIGKILL to the others', async () => {
    const p = await cluster.placement();
    const victim = p.find(({ rooms }) => Object.keys(rooms).length === 3) ||
      p.reduce((a, b) => (Object.keys(b.rooms).length > Object.keys(a.rooms).length ? b : a));
    killed = cluster.nodes[victim.node - 1];
    const moved = Object.keys(victim.rooms);
    const t0 = Date.now();
    await killed.kill('SIGKILL');
    await waitFor(() => cluster.placement(), settled(3), `rooms ${moved} back on live nodes`,
      { timeout: 10000, interval: 200 });
    console.log(`node ${killed.index} killed with ${moved.length} rooms: its bots back in ${Date.now() - t0} ms`);
  });

  it('carries on while Redis is away and when it comes back', async () => {
    const live = cluster.nodes.filter((n) => n.alive());
    const p0 = await cluster.placement();
    const { where: hosts } = summarize(p0);
    await cluster.stopRedis();
    // Redis away: a new room cannot be placed, a room hosted here goes on.
    const busiest = p0.reduce((a, b) => (Object.keys(b.rooms).length > Object.keys(a.rooms).length ? b : a));
    const node = cluster.nodes[busiest.node - 1];
    const c = await connect({ ws: node.ws }, 'probe');
    const refused = await c.request({ type: 'join', room: 'nowhere' });
    assert.equal(refused.code, 'unavailable', JSON.stringify(refused));
    const mine = ROOMS.find((r) => hosts[r][0] === node.index);
    const joined = await c.request({ type: 'join', room: mine });
    assert.equal(joined.type, 'joined', JSON.stringify(joined));
    assert.equal(joined.participants.length, 3);
    assert.equal((await c.request({ type: 'leave' })).type, 'left');
    await c.close();
    const before = await Promise.all(live.map(async (n) => (await n.stats()).cluster.refreshes));
    await cluster.startRedis();
    // Each node back on Redis, with its record and its rooms' claims again.
    await waitFor(() => Promise.all(live.map((n) => n.stats())),
      (sts) => sts.every((st, i) => st.cluster.connected && st.cluster.refreshes > before[i] + 1),
      'every node refreshing again', { timeout: 15000, interval: 250 });
    const p = await waitFor(() => cluster.placement(), settled(3), 'rooms untouched', { timeout: 5000 });
    const { where } = summarize(p);
    const ids = Object.fromEntries(await Promise.all(live.map(async (n) =>
      [(await n.stats()).cluster.node_id, n.index])));
    await waitFor(async () => ROOMS.map((r) => ids[cluster.redisCli('GET', `parley:room:${r}`).trim()]),
      (owners) => owners.every((o, i) => o === where[ROOMS[i]][0]), 'claims taken again',
      { timeout: 5000, interval: 250 });
    assert.equal(cluster.redisCli('SCARD', 'parley:nodes').trim(), String(live.length));
    const refusedCount = (await node.stats()).refused_unplaced;
    assert.ok(refusedCount >= 1, `refused_unplaced ${refusedCount}`);
  });

  it('sends new rooms away from a draining node, whose rooms stay', async () => {
    const p = await cluster.placement();
    const busy = p.find(({ rooms }) => Object.keys(rooms).length > 0);
    const node = cluster.nodes[busy.node - 1];
    assert.deepEqual(await node.admin('POST', '/drain'), { draining: true });
    await waitFor(async () => JSON.parse(cluster.redisCli('GET', `parley:node:${(await node.stats()).cluster.node_id}`)),
      (rec) => rec.draining === true, 'its record says draining', { timeout: 5000, interval: 200 });
    const fresh = runBots({ ws: node.ws }, ['--room', 'fresh', '--per-room', '1', '--first-index', '50',
      '--seconds', '4', '--bind', cluster.hostAddr]);
    const q = await waitFor(() => cluster.placement(), (pl) => summarize(pl).where.fresh?.length === 1,
      'the new room placed', { timeout: 8000, interval: 200 });
    assert.notEqual(summarize(q).where.fresh[0], node.index);
    for (const r of Object.keys(busy.rooms)) assert.deepEqual(summarize(q).where[r], [node.index], r);
    await fresh.done;
  });

  it('every bot decodes its room to the end', async () => {
    const reports = await Promise.all(bots.map((b) => b.done));
    for (const report of reports) {
      for (const b of report.bots) {
        // The last stream of each kind from each of the two other bots in
        // its room: those after any move decoded too.
        const last = {};
        for (const s of b.streams) if (s.from.startsWith('bot-')) last[`${s.from}/${s.kind}`] = s;
        const got = Object.values(last);
        assert.equal(got.length, 4, `${b.name}: ${describeReport(report)}`);
        for (const s of got) {
          const frames = s.decoded?.frames || 0;
          assert.ok(frames > 0 && s.decoded.identity_ok, `${b.name} <- ${s.from}/${s.kind}: ${describeReport(report)}`);
        }
      }
    }
    const moved = reports.flatMap((r) => r.bots).filter((b) => b.rejoins > 0).length;
    console.log(`bots that joined again after the kill: ${moved}`);
    assert.ok(moved >= 3, `rejoins: ${moved}`);
  });
});
