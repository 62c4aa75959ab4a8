// A minimal protocol client for tests: send requests, await replies/events.
import WebSocket from 'ws';

export class Client {
  constructor(url, protocols = 'parley.v1') {
    this.ws = new WebSocket(url, protocols);
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
  next(pred, ms = 5000) {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m) => { clearTimeout(t); this.inbox.splice(this.inbox.indexOf(m), 1); resolve(m); } };
      const t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== w); reject(new Error('timed out waiting; inbox: ' + JSON.stringify(this.inbox))); }, ms);
      this.waiters.push(w);
    });
  }
  event(type) { return this.next((m) => m.type === type); }
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
