// Network namespaces for tests that cap or drop a participant's traffic.
//
// The server stays in the test's own namespace and listens on every
// address; it is announced at the host end of a veth pair whose other end
// sits in a namespace of its own (so the link is up), the "server address".
// Each participant gets a namespace with one veth pair to the host:
//
//   participant ns: 10.X.i.2 ── veth ── host: 10.X.i.1        server: 10.X.0.1
//
// What the server sends a participant leaves through the host end of its
// veth, so tbf there caps that participant's downlink (`cap`); nftables in
// the participant's namespace drops a share of what arrives (`loss`), or
// every UDP packet it sends (`blockUdp`).
// Every name carries a prefix unique to this process, and `destroy` (also
// run at exit) removes every namespace, which takes its veth pairs along.
// A process killed outright runs neither: the next network made removes
// the namespaces of test processes that are gone, whose shaped veths and
// addresses would otherwise meet a later run's.
import { execFileSync } from 'node:child_process';

function run(cmd, args, input) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

const ip = (...args) => run('ip', args);
const inNs = (ns, cmd, ...args) => run('ip', ['netns', 'exec', ns, cmd, ...args]);

// The namespaces this process made, removed at exit even when a test throws.
const live = new Set();
process.on('exit', () => {
  for (const ns of live) {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
  }
});

// Removes namespaces named by this module for a process that no longer
// runs (`p<pid in base 36>-<name>`).
function removeStale() {
  for (const line of ip('netns', 'list').split('\n')) {
    const m = /^p([0-9a-z]+)-\S+/.exec(line);
    if (!m) continue;
    const pid = parseInt(m[1], 36);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still running (or not ours to signal)
    } catch (e) {
      if (e.code !== 'ESRCH') continue;
    }
    try { execFileSync('ip', ['netns', 'del', m[0]], { stdio: 'ignore' }); } catch { /* gone */ }
  }
}

// Reads what tbf on dev has sent and dropped ({sent, dropped, overlimits}).
function tbfCounters(dev) {
  const out = run('tc', ['-s', 'qdisc', 'show', 'dev', dev]);
  const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(out);
  return m ? { bytes: +m[1], packets: +m[2], dropped: +m[3], overlimits: +m[4] } : null;
}

// Creates the server address; participants are added with `add(name)`.
// `subnet` (1..250) is the second octet of 10.X.0.0/16; by default one
// derived from the process id, so test files running at once do not meet.
export function createNetwork({ subnet } = {}) {
  removeStale();
  const x = subnet ?? (10 + (process.pid % 240));
  const tag = `p${process.pid.toString(36)}`;
  const nets = [];
  let next = 1;

  const link = (i, ns) => {
    const host = `${tag}h${i}`;
    const peer = `${tag}p${i}`;
    ip('netns', 'add', ns);
    live.add(ns);
    // No IPv6 inside: a veth's link-local address settles a second or two
    // after the link is up, and Chromium, seeing its network change, aborts
    // what it is loading (net::ERR_NETWORK_CHANGED: a page without its
    // scripts). Everything here is IPv4.
    inNs(ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && ' +
      'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6');
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', ns);
    ip('addr', 'add', `10.${x}.${i}.1/24`, 'dev', host);
    ip('link', 'set', host, 'up');
    inNs(ns, 'ip', 'addr', 'add', `10.${x}.${i}.2/24`, 'dev', peer);
    inNs(ns, 'ip', 'link', 'set', peer, 'up');
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'route', 'add', 'default', 'via', `10.${x}.${i}.1`);
    return { host, peer };
  };

  const serverNs = `${tag}-srv`;
  link(0, serverNs);
  const serverAddr = `10.${x}.0.1`;

  return {
    serverAddr,
    // A participant's namespace: `prefix` runs a command inside it
    // ([...prefix, cmd, ...args]); `addr` is its address.
    add(name) {
      const i = next++;
      if (i > 250) throw new Error('too many participants in one network');
      const ns = `${tag}-${name}`;
      const { host, peer } = link(i, ns);
      // The server listens on 0.0.0.0, so its UDP replies take the source
      // address of the route back: the participant's own host end, not
      // the address it sent to, and ICE and DTLS ignore datagrams from an
      // address they do not know. The route says the server address.
      ip('route', 'replace', `10.${x}.${i}.0/24`, 'dev', host, 'proto', 'kernel', 'scope', 'link',
        'src', serverAddr);
      const participant = {
        name, ns, addr: `10.${x}.${i}.2`, hostDev: host, dev: peer,
        prefix: ['ip', 'netns', 'exec', ns],
        // Caps what the participant receives at kbit kbit/s (null lifts
        // the cap); replacing a cap mid-run is a step down or up.
        cap(kbit) {
          if (kbit === null) {
            run('tc', ['qdisc', 'replace', 'dev', host, 'root', 'pfifo_fast']);
            return;
          }
          run('tc', ['qdisc', 'replace', 'dev', host, 'root', 'tbf', 'rate', `${kbit}kbit`,
            'burst', '16kbit', 'latency', '200ms']);
        },
        capCounters: () => tbfCounters(host),
        // Drops pct% of what the participant receives, at random.
        loss(pct) {
          run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
            'table inet impair {',
            '  chain in { type filter hook input priority 0; policy accept;',
            `    iifname "${peer}" numgen random mod 100 < ${pct} counter drop`,
            '  }',
            '}',
          ].join('\n'));
        },
        // Drops every UDP packet the participant sends (a network that
        // lets only TCP out); `udpDropped` counts them.
        blockUdp() {
          run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
            'table inet noudp {',
            '  chain out { type filter hook output priority 0; policy accept;',
            '    meta l4proto udp counter drop',
            '  }',
            '}',
          ].join('\n'));
        },
        udpDropped() {
          let out;
          try { out = inNs(ns, 'nft', 'list', 'table', 'inet', 'noudp'); } catch { return 0; }
          const m = /counter packets (\d+)/.exec(out);
          return m ? +m[1] : 0;
        },
        // Packets the loss rule dropped so far.
        lossDropped() {
          let out;
          try { out = inNs(ns, 'nft', 'list', 'table', 'inet', 'impair'); } catch { return 0; }
          const m = /counter packets (\d+)/.exec(out);
          return m ? +m[1] : 0;
        },
        // A network that lets out only TCP to addr on the given ports
        // (a web server, a TURN server): every other packet the participant
        // sends, UDP above all, is dropped (loopback aside). A second call
        // replaces the first.
        onlyTcpTo(addr, ...ports) {
          run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
            'table inet strict',
            'delete table inet strict',
            'table inet strict {',
            '  chain out { type filter hook output priority 0; policy accept;',
            '    oifname "lo" accept',
            `    ip daddr ${addr} tcp dport { ${ports.join(', ')} } accept`,
            '    counter drop',
            '  }',
            '}',
          ].join('\n'));
        },
        // Packets the onlyTcpTo rule dropped so far.
        strictDropped() {
          let out;
          try { out = inNs(ns, 'nft', 'list', 'table', 'inet', 'strict'); } catch { return 0; }
          const m = /counter packets (\d+)/.exec(out);
          return m ? +m[1] : 0;
        },
      };
      nets.push(participant);
      return participant;
    },
    destroy() {
      for (const p of nets) {
        try { ip('netns', 'del', p.ns); } catch { /* gone */ }
        live.delete(p.ns);
      }
      try { ip('netns', 'del', serverNs); } catch { /* gone */ }
      live.delete(serverNs);
    },
  };
}
