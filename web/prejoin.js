// The pre-join screen: before a meeting one sees oneself (camera preview,
// microphone level), picks the devices, and chooses to come in with the
// camera or microphone off. A meeting link shows it on the start page,
// under the name; joining a room from the lobby shows it as a view of its
// own. The devices opened here are the ones the meeting publishes
// (window.parley.stream); in the meeting the pickers move to its Devices
// panel, where a change switches the device without renegotiating.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const media = $('prejoin-media');
  const pickers = $('device-pickers');

  function track(kind) { return window.parley.stream?.getTracks().find((t) => t.kind === kind); }

  // The toggles say what a press does, and are pressed while the device is off.
  function syncPreview() {
    for (const [id, kind, on, off, none] of [
      ['prejoin-mic', 'audio', 'Mute microphone', 'Unmute microphone', 'No microphone'],
      ['prejoin-cam', 'video', 'Turn camera off', 'Turn camera on', 'No camera']]) {
      const t = track(kind);
      const b = $(id);
      b.disabled = !t;
      b.textContent = !t ? none : t.enabled ? on : off;
      b.setAttribute('aria-pressed', String(!!t && !t.enabled));
    }
    const cam = track('video');
    $('prejoin-camera-off').hidden = !!cam?.enabled;
    $('prejoin-camera-off').textContent = cam ? 'Camera is off' : 'No camera';
  }

  async function showPreview(slot) {
    slot.append(media);
    if (pickers.parentElement !== media) media.append(pickers);
    media.hidden = false;
    syncPreview();
    const stream = await devices.preview();
    $('prejoin-video').srcObject = window.parley.stream || stream || null;
    syncPreview();
  }

  function toggle(kind) {
    const t = track(kind);
    if (!t) return;
    t.enabled = !t.enabled;
    syncPreview();
  }
  $('prejoin-mic').addEventListener('click', () => toggle('audio'));
  $('prejoin-cam').addEventListener('click', () => toggle('video'));
  window.parley.prejoinToggle = toggle; // the keyboard shortcuts (panels.js)

  // From the lobby: the pre-join view, then the room.
  hooks.prejoin = (room, go) => {
    $('prejoin-room').textContent = room;
    showView('prejoin');
    showPreview($('prejoin-view-slot'));
    $('prejoin-join').onclick = () => go();
    $('prejoin-back').onclick = () => {
      stopStream();
      devices.meter.stop();
      showView('lobby');
    };
    $('prejoin-join').focus();
  };

  // In the meeting, the pickers (and level) go to its Devices panel.
  const chained = hooks.message;
  hooks.message = (m) => {
    chained(m);
    if (m.type === 'joined') {
      $('devices-slot').append(pickers);
      devices.meter.watch();
      devices.list();
    }
  };

  // A meeting link: the preview on the start page, under the name.
  if (roomInPath) showPreview($('prejoin-slot'));
})();
