// Cameras, microphones and speakers: opening them (with what is missing or
// refused said plainly, and the rest still used), the pickers, the
// microphone level meter, and switching a device during a call with
// RTCRtpSender.replaceTrack, which needs no new offer: the relay keeps the
// track id, the subscribers their decoder, only the frames change.
'use strict';
const devices = (() => {
  const $ = (id) => document.getElementById(id);
  const pickers = { audioinput: $('pick-mic'), videoinput: $('pick-camera'), audiooutput: $('pick-speaker') };
  const canPickSpeaker = 'setSinkId' in HTMLMediaElement.prototype;
  // Per kind, why the device could not be opened last time (an Error name),
  // so that joining goes on without it rather than asking again.
  const missing = { audio: '', video: '' };
  let speaker = '';
  let opening = null; // the promise of an open() under way

  const KIND_NAME = { audio: 'microphone', video: 'camera' };
  function explain() {
    const lines = [];
    for (const kind of ['video', 'audio']) {
      const why = missing[kind];
      if (!why) continue;
      const what = KIND_NAME[kind];
      if (why === 'NotAllowedError' || why === 'SecurityError')
        lines.push(`Access to your ${what} was denied: you join without it. Allow it in the browser's site settings and reload to use it.`);
      else if (why === 'NotFoundError' || why === 'OverconstrainedError')
        lines.push(`No ${what} was found: you join without it.`);
      else if (why === 'NotReadableError')
        lines.push(`Your ${what} is in use by another program: you join without it.`);
      else lines.push(`Your ${what} could not be opened (${why}): you join without it.`);
    }
    const p = $('device-message');
    p.textContent = lines.join(' ');
    p.hidden = !lines.length;
  }

  function constraint(kind) {
    const id = pickers[kind === 'audio' ? 'audioinput' : 'videoinput'].value;
    const base = kind === 'video' ? { ...CAMERA } : {};
    if (id) base.deviceId = { exact: id };
    return Object.keys(base).length ? base : true;
  }

  // A stream with whatever of camera and microphone can be had: both in
  // one request (one permission prompt), else each alone, so that a
  // refused camera still leaves the microphone. Never throws.
  async function openBoth(wantVideo) {
    const want = wantVideo ? ['audio', 'video'] : ['audio'];
    try {
      const c = {};
      for (const k of want) c[k] = constraint(k);
      const s = await navigator.mediaDevices.getUserMedia(c);
      for (const k of want) missing[k] = '';
      return s;
    } catch (e) {
      if (!navigator.mediaDevices) { for (const k of want) missing[k] = 'SecurityError'; return new MediaStream(); }
    }
    const stream = new MediaStream();
    for (const k of want) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ [k]: constraint(k) });
        for (const t of s.getTracks()) stream.addTrack(t);
        missing[k] = '';
      } catch (e) {
        // A chosen device that went away: any other of its kind will do.
        if (e.name === 'OverconstrainedError') {
          try {
            const s = await navigator.mediaDevices.getUserMedia({ [k]: k === 'video' ? CAMERA : true });
            for (const t of s.getTracks()) stream.addTrack(t);
            missing[k] = '';
            continue;
          } catch (e2) { missing[k] = e2.name; continue; }
        }
        missing[k] = e.name;
      }
    }
    return stream;
  }

  // The camera and microphone for a meeting or call (parley.js publish):
  // the pre-join preview's when it is still open or under way.
  async function open(audioOnly) {
    if (opening) await opening;
    let stream = window.parley.stream;
    if (!stream) {
      opening = openBoth(!audioOnly);
      stream = await opening;
      opening = null;
    }
    explain();
    await list();
    return stream;
  }

  // The pre-join preview: opens the devices once and keeps them for the
  // meeting (window.parley.stream).
  async function preview() {
    if (window.parley.stream || opening) return opening;
    opening = openBoth(true);
    const stream = await opening;
    opening = null;
    window.parley.stream = stream;
    explain();
    await list();
    meter.watch();
    return stream;
  }

  // Whether opening the camera failed: joining goes on without it instead
  // of asking again.
  function lacks(kind) { return !!missing[kind]; }

  function current(kind) {
    return window.parley.stream?.getTracks().find((t) => t.kind === kind && t.readyState === 'live');
  }

  // The pickers, filled without being opened (labels come once a device
  // is granted), each on what is in use now.
  async function list() {
    let all = [];
    try { all = await navigator.mediaDevices.enumerateDevices(); } catch { /* no mediaDevices */ }
    $('pick-speaker-field').hidden = !canPickSpeaker;
    for (const [kind, select] of Object.entries(pickers)) {
      const mine = all.filter((d) => d.kind === kind && d.deviceId);
      const names = { audioinput: 'Microphone', videoinput: 'Camera', audiooutput: 'Speaker' };
      const opts = mine.map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${names[kind]} ${i + 1}`;
        return o;
      });
      if (!opts.length) {
        const o = document.createElement('option');
        o.value = '';
        o.textContent = `No ${names[kind].toLowerCase()} found`;
        opts.push(o);
      }
      select.replaceChildren(...opts);
      select.disabled = !mine.length;
      const inUse = kind === 'audiooutput' ? speaker
        : current(kind === 'audioinput' ? 'audio' : 'video')?.getSettings().deviceId;
      if (inUse && mine.some((d) => d.deviceId === inUse)) select.value = inUse;
    }
  }
  navigator.mediaDevices?.addEventListener('devicechange', list);

  // Another camera or microphone: a new track in place of the old one, in
  // the stream, the previews, and (during a call) the publish sender with
  // replaceTrack. Muted stays muted.
  async function use(kind, deviceId) {
    const stream = window.parley.stream;
    if (!stream) return;
    const old = current(kind);
    const c = kind === 'video' ? { ...CAMERA, deviceId: { exact: deviceId } } : { deviceId: { exact: deviceId } };
    let fresh;
    try {
      fresh = (await navigator.mediaDevices.getUserMedia({ [kind]: c })).getTracks()[0];
    } catch (e) {
      // Some cameras open only once: let the old one go and try again.
      if (!old || kind !== 'video') { missing[kind] = e.name; explain(); return; }
      old.stop();
      try { fresh = (await navigator.mediaDevices.getUserMedia({ [kind]: c })).getTracks()[0]; } catch (e2) {
        missing[kind] = e2.name; explain(); return;
      }
    }
    missing[kind] = '';
    explain();
    if (old) fresh.enabled = old.enabled;
    const sender = old && window.parley.publish?.getSenders().find((s) => s.track === old);
    if (sender) await sender.replaceTrack(fresh);
    else if (!old && window.parley.publish) addTrack(fresh);
    if (old) { stream.removeTrack(old); old.stop(); }
    stream.addTrack(fresh);
    for (const id of ['preview', 'prejoin-video']) if ($(id).srcObject === stream) { $(id).srcObject = null; $(id).srcObject = stream; }
    window.parley.deviceSwitches = (window.parley.deviceSwitches || 0) + 1;
    await list();
  }

  // A device picked during a meeting joined without one of its kind: a new
  // track on the publish connection is a new offer (parley.js), unlike a
  // replacement.
  function addTrack(track) {
    const pc = window.parley.publish;
    const init = { direction: 'sendonly', streams: [window.parley.stream] };
    if (track.kind === 'video') init.sendEncodings = CAMERA_LAYERS.map((l) => ({ ...l }));
    pc.addTransceiver(track, init);
    offerPublish();
  }

  // Where remote sound plays: every remote tile's element, now and later.
  function applySpeaker(root) {
    if (!canPickSpeaker || !speaker) return;
    for (const v of root.querySelectorAll('video, audio'))
      if (!v.muted && v.sinkId !== speaker) v.setSinkId(speaker).catch(() => {});
  }
  new MutationObserver(() => applySpeaker($('tiles'))).observe($('tiles'), { childList: true, subtree: true });

  pickers.videoinput.addEventListener('change', (e) => use('video', e.target.value));
  pickers.audioinput.addEventListener('change', (e) => use('audio', e.target.value));
  pickers.audiooutput.addEventListener('change', (e) => { speaker = e.target.value; applySpeaker($('tiles')); });

  // The microphone level, 10 times a second: the RMS of the analyser's
  // samples on a loudness-like scale, from whatever microphone track is
  // live (it follows a switch). The audio context starts suspended until
  // the page is used (autoplay policy), hence the resume on any input.
  const meter = (() => {
    let ctx = null;
    let source = null;
    let sourceTrack = null;
    let analyser = null;
    let timer = 0;
    let buf = null;
    function tick() {
      const track = current('audio');
      const el = $('mic-level');
      if (!track) { el.value = 0; return; }
      if (!ctx) {
        ctx = new AudioContext();
        analyser = ctx.createAnalyser();
        analyser.fftSize = 1024;
        buf = new Float32Array(analyser.fftSize);
      }
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
      if (track !== sourceTrack) {
        source?.disconnect();
        source = ctx.createMediaStreamSource(new MediaStream([track]));
        source.connect(analyser);
        sourceTrack = track;
      }
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      const rms = Math.sqrt(sum / buf.length);
      // -60 dBFS and below reads 0, 0 dBFS reads 1; a muted track reads 0.
      const db = 20 * Math.log10(rms || 1e-9);
      el.value = track.enabled ? Math.max(0, Math.min(1, (db + 60) / 60)) : 0;
      window.parley.micLevel = el.value;
    }
    function watch() { if (!timer) timer = setInterval(tick, 100); }
    function stop() {
      clearInterval(timer);
      timer = 0;
      source?.disconnect();
      source = sourceTrack = null;
      $('mic-level').value = 0;
    }
    for (const ev of ['pointerdown', 'keydown'])
      addEventListener(ev, () => { if (ctx?.state === 'suspended') ctx.resume().catch(() => {}); }, true);
    return { watch, stop };
  })();

  return { open, preview, lacks, list, use, meter, explain };
})();
