// A minimal protocol client for tests: send requests, await replies/events.
import WebSocket from 'ws';

export class Client {
  constructor(url, protocols = 'parley.v1') {
    // A handshake that never completes fails instead of holding the test.
    this.ws = new WebSocket(url, protocols, { handshakeTimeout: 10000 });
    this.inbox = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => resolve(code)));
    this.ws.on('message', (data, isBinary) => {
      const m = JSON.parse(data.toString());
      this.inbox.push(m);
      this.waiters = this.waiters.filter((w) => !(w.pred(m) && (w.resolve(m), true)));
    });
    this.opened = new Promise((resolve, reject) => { this.ws.on('open', resolve); this.ws.on('error', reject); });
    this.nextId = 1;
  }
  send(msg) { this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)); }
  request(msg) { const id = this.nextId++; this.send({ ...msg, id }); return this.next((m) => m.re === id); }
  // The first message (already in or still to come) for which pred holds;
  // rejects after ms, saying what was awaited and what came instead.
  next(pred, ms = 5000, what = `a message matching ${pred}`) {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m) => { clearTimeout(t); this.inbox.splice(this.inbox.indexOf(m), 1); resolve(m); } };
      const t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== w); reject(new Error(`timed out after ${ms} ms waiting for ${what}; inbox: ${JSON.stringify(this.inbox)}`)); }, ms);
      this.waiters.push(w);
    });
  }
  event(type) { return this.next((m) => m.type === type, 5000, `a ${type} message`); }
  // A round trip that asks nothing (an empty missed-ack): the server answers
  // a connection in order, so once the reply is here, everything it sent
  // this client before has arrived. For asserting that something was not
  // sent, after the action that would have sent it.
  async sync() {
    const r = await this.request({ type: 'missed-ack', call_ids: [] });
    if (r.type !== 'ok') throw new Error('sync round trip: ' + JSON.stringify(r));
  }
  close() { this.ws.close(); return this.closed; }
}

export async function connect(server, name, protocols) {
  const c = new Client(server.ws, protocols);
  await c.opened;
  if (name) {
    const w = await c.request({ type: 'hello', name });
    if (w.type !== 'welcome') throw new Error('no welcome: ' + JSON.stringify(w));
    c.user = w.user;
    c.welcomeMsg = w;
  }
  return c;
}

// Polls read() until pred holds for what it returns, and returns that; after
// `timeout` ms throws, saying what was awaited and what was last seen.
export async function waitFor(read, pred, what, { timeout = 10000, interval = 100 } = {}) {
  const start = Date.now();
  let last;
  for (;;) {
    last = await read();
    if (pred(last)) return last;
    if (Date.now() - start >= timeout) break;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}
