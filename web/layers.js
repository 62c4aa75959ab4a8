// Dynacast (protocol `publish-layers`): the relay says which simulcast
// layers of our camera anybody needs now. The others are switched off in
// the encoder (RTCRtpSender.setParameters, encodings[i].active), which
// spares this machine's CPU and uplink, and on again as soon as the relay
// names them, so that a tile that grows somewhere gets its sharp picture
// back within a second. Plugs into parley.js's hooks, after calls.js.
'use strict';
(() => {
  let wanted = null; // the last publish-layers: {track_id, active: Set of rids}
  let chain = Promise.resolve(); // setParameters calls one after another

  function cameraSender() {
    const cam = window.parley.stream?.getVideoTracks()[0];
    return window.parley.publish?.getSenders().find((s) => s.track && s.track === cam) || null;
  }

  async function apply() {
    const sender = cameraSender();
    if (!sender || !wanted || wanted.track_id !== myTracks.get('video')) return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length < 2) return;
    let changed = false;
    for (const e of params.encodings) {
      const on = !e.rid || wanted.active.has(e.rid);
      if (e.active !== on) { e.active = on; changed = true; }
    }
    if (changed) await sender.setParameters(params);
  }

  // Also called by tests and after the camera is published again.
  window.parley.applyLayers = () => {
    chain = chain.then(apply).catch((e) => console.warn('publish-layers:', e.name, e.message));
    return chain;
  };

  const next = hooks.event;
  hooks.event = (m) => {
    if (m.type !== 'publish-layers') { next(m); return; }
    wanted = { track_id: m.track_id, active: new Set(m.active || []) };
    window.parley.layersActive = [...wanted.active];
    window.parley.applyLayers();
  };
})();
