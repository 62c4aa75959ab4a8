// The network path of a meeting's media, for parley.js: the TURN servers
// from `welcome` go to every peer connection; the meeting bar says which
// way each one's media took (UDP, TCP, or a relay through TURN), and says
// plainly when none worked, rather than leaving a silent grid.
'use strict';

const netpath = {
  iceServers: [], // welcome.ice_servers, as they came
  paths: {}, // 'publish' | 'subscribe' -> {label, candidateType, protocol, relayProtocol} or {failed}
  refused: new Set(), // TURN URLs that answered our credentials with 401
};

// The configuration of a new peer connection.
function pcConfig() {
  return { bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers: netpath.iceServers };
}

// Every welcome, a resumed one too, brings fresh credentials: the live
// peer connections take them for their next ICE restart.
function setIceServers(list) {
  netpath.iceServers = Array.isArray(list) ? list : [];
  netpath.refused.clear();
  for (const pc of [window.parley.publish, window.parley.subscribe]) {
    if (!pc || pc.signalingState === 'closed') continue;
    try {
      pc.setConfiguration({ ...pc.getConfiguration(), iceServers: netpath.iceServers });
    } catch { /* a connection being replaced: the next one gets them */ }
  }
}

// What the selected candidate pair says of our end: its candidate type
// and protocol, and for a relay how we reach the TURN server.
async function selectedPath(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  const local = pair && stats.get(pair.localCandidateId);
  if (!local) return null;
  const path = { candidateType: local.candidateType, protocol: local.protocol,
    relayProtocol: local.relayProtocol || '' };
  if (local.candidateType === 'relay')
    path.label = `relay (TURN over ${(path.relayProtocol || local.protocol || '?').toUpperCase()})`;
  else path.label = local.protocol === 'tcp' ? 'TCP' : 'UDP';
  return path;
}

function renderPath() {
  const el = document.getElementById('media-path');
  const { publish, subscribe } = netpath.paths;
  const failed = publish?.failed || subscribe?.failed;
  el.classList.toggle('failed', !!failed);
  if (failed) {
    let why = 'UDP to the server blocked, and no TURN relay offered?';
    if (netpath.refused.size) why = 'the TURN server refused the credentials';
    else if (netpath.iceServers.length) why = 'TURN unreachable, or TURN credentials refused?';
    el.textContent = `Could not connect media: no network path (${why})`;
    return;
  }
  const labels = [publish?.label, subscribe?.label];
  if (!labels[0] && !labels[1]) el.textContent = '';
  else if (labels[0] === labels[1] || !labels[0] || !labels[1]) el.textContent = `via ${labels[0] || labels[1]}`;
  else el.textContent = `sending via ${labels[0]}, receiving via ${labels[1]}`;
}

// A peer connection not connected this long after it was made has no
// path in practice: where a firewall drops what the browser sends without
// a word (TCP to the relay's passive candidate as well), ICE keeps
// checking for minutes before it says failed.
const NO_PATH_MS = 20000;

// Follows a peer connection ('publish' or 'subscribe'): its path once
// connected (again after an ICE restart), or that it failed. A failure
// stays said while the client retries, until a path works.
function watchPath(pc, which) {
  setTimeout(() => {
    if (pc !== window.parley[which] || ['connected', 'closed'].includes(pc.connectionState)) return;
    netpath.paths[which] = { failed: true };
    renderPath();
  }, NO_PATH_MS);
  pc.addEventListener('icecandidateerror', (e) => {
    if (e.errorCode === 401 && /^turns?:/.test(e.url || '')) netpath.refused.add(e.url);
  });
  let tries = 0;
  const update = async () => {
    if (pc !== window.parley[which]) return;
    if (pc.connectionState === 'failed') {
      netpath.paths[which] = { failed: true };
    } else if (pc.connectionState === 'connected') {
      const path = await selectedPath(pc).catch(() => null);
      if (pc !== window.parley[which]) return;
      // Right at 'connected' the statistics may not name the selected pair
      // yet (a busy machine): ask again shortly, or the bar stays empty.
      if (!path) {
        if (++tries <= 20) setTimeout(update, 500);
        return;
      }
      tries = 0;
      netpath.paths[which] = path;
    } else {
      return;
    }
    renderPath();
  };
  pc.addEventListener('connectionstatechange', update);
  pc.addEventListener('iceconnectionstatechange', update);
}

// The room's media are gone (left, or a new session).
function clearPaths() {
  netpath.paths = {};
  renderPath();
}

window.netpath = netpath; // for diagnostics and the end-to-end tests
