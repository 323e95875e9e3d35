/* The reviewer's workbench: lease a clip, listen, transcribe, submit, next.
 *
 * The server is the control: every call re-checks session, facility network, lease and opt-out,
 * and this page only reflects its answers. What the reviewer types lives in the textarea and
 * nowhere else (no localStorage, no sessionStorage). The audio is fetched with the session
 * cookie and played from a blob: URL that is revoked as soon as the clip is left; the page never
 * shows a link to it.
 */
"use strict";

(function () {
  const root = document.getElementById("workbench");
  if (!root) {
    return;
  }

  const cfg = {
    nextUrl: root.dataset.nextUrl,
    assignmentsUrl: root.dataset.assignmentsUrl,
    logoutUrl: root.dataset.logoutUrl,
    loginUrl: root.dataset.loginUrl,
    idleMs: Number(root.dataset.idleSeconds || 900) * 1000,
    pollMs: Number(root.dataset.pollSeconds || 5) * 1000,
    // Typing extends the lease and the session through a heartbeat, at most once per this gap.
    heartbeatMs: Number(root.dataset.heartbeatSeconds || 30) * 1000,
  };

  const byId = (id) => document.getElementById(id);
  const el = {
    status: byId("status"),
    warning: byId("warning"),
    warningText: byId("warning-text"),
    keepWorking: byId("keep-working"),
    state: byId("state"),
    stateTitle: byId("state-title"),
    stateText: byId("state-text"),
    stateAction: byId("state-action"),
    clip: byId("clip"),
    language: byId("clip-language"),
    countdown: byId("lease-countdown"),
    audio: byId("audio"),
    wave: byId("waveform"),
    play: byId("play"),
    back: byId("back"),
    slower: byId("slower"),
    faster: byId("faster"),
    rate: byId("rate"),
    position: byId("position"),
    duration: byId("duration"),
    form: byId("transcript-form"),
    transcript: byId("transcript"),
    formError: byId("form-error"),
    submit: byId("submit"),
    release: byId("release"),
    logout: byId("logout"),
  };

  const RATES = [0.5, 0.6, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2];
  const LEASE_WARN_MS = 90 * 1000;
  const SESSION_WARN_MS = 2 * 60 * 1000;
  const BACK_SECONDS = 3;
  const PEAK_BUCKETS = 2000;
  // Playback starts only on a lease the server confirmed this recently: the audio sits in this
  // page's memory, and an opt-out must stop it being played again, not just downloaded again.
  const CONFIRMED_FRESH_MS = 2000;

  let current = null; // the open lease
  let generation = 0; // bumped whenever a clip is opened or left: late answers for an old clip are ignored
  let blobUrl = null;
  let peaks = null;
  let peakScale = 1; // quiet recordings are drawn as tall as loud ones
  let rateIndex = RATES.indexOf(1);
  let clockSkewMs = 0; // server clock minus this computer's clock, from the Date header
  let lastContact = Date.now(); // the server counts idle time from our last non-background request
  let lastHeartbeat = 0;
  let heartbeatInFlight = false;
  let busy = false;
  let sessionOver = false;
  let pollTimer = null;
  let pollPromise = null;
  let confirmedAt = 0; // when the server last said this lease is active
  let stateAction = null;
  let warningShown = "";

  // ---------------------------------------------------------------- server calls

  function noteContact(response, background) {
    if (!background) {
      lastContact = Date.now();
    }
    const date = Date.parse(response.headers.get("Date") || "");
    if (!Number.isNaN(date)) {
      // The header has whole seconds: only a real difference of clocks is corrected for.
      const skew = date - Date.now();
      clockSkewMs = Math.abs(skew) > 2000 ? skew : 0;
    }
  }

  async function errorOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (ignored) {
      body = null;
    }
    const error = (body && body.error) || {};
    return {
      ok: false,
      status: response.status,
      code: error.code || "http_" + response.status,
      message: error.message || "The server answered " + response.status + ".",
      fields: error.fields || null,
    };
  }

  async function api(method, url, body, background) {
    const headers = { Accept: "application/json" };
    if (background) {
      // Status polls are not the reviewer at work: the server's idle limit ignores them.
      headers["X-Background-Poll"] = "1";
    }
    const options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET") {
      headers["X-CSRFToken"] = window.reviewsvc.csrfToken();
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (ignored) {
      return { ok: false, status: 0, code: "network_error", message: "The server cannot be reached." };
    }
    noteContact(response, background);
    if (!response.ok) {
      return errorOf(response);
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (ignored) {
        data = null;
      }
    }
    return { ok: true, status: response.status, data: data };
  }

  function assignmentUrl(suffix) {
    return cfg.assignmentsUrl + encodeURIComponent(current.assignment) + (suffix ? "/" + suffix : "");
  }

  function serverTimeToLocal(iso) {
    return Date.parse(iso) - clockSkewMs;
  }

  // ---------------------------------------------------------------- states

  const STATES = {
    empty: {
      title: "Nothing to review",
      text: "There is no clip for you right now. Check again in a while.",
      action: "Check again",
    },
    lease_expired: {
      title: "Lease expired",
      text: "Your lease on this clip ended and the clip went back to the queue. What you had typed was discarded.",
      action: "Take the next clip",
    },
    withdrawn: {
      title: "Clip withdrawn",
      text: "This clip was withdrawn (the speaker opted out, or it was deleted). It can no longer be played or transcribed, and what you had typed was discarded.",
      action: "Take the next clip",
    },
    released: {
      title: "Clip released",
      text: "The clip went back to the queue.",
      action: "Take the next clip",
    },
    session_ended: {
      title: "Session ended",
      text: "Your session has ended. Log in again to continue.",
      action: "Log in",
    },
    outside_network: {
      title: "Refused: outside facility network",
      text: "This computer is not on your facility's network, so no clip can be opened here.",
      action: "Try again",
    },
    refused: { title: "Refused", text: "", action: "Try again" },
    error: { title: "Something went wrong", text: "", action: "Try again" },
  };

  const STATE_OF_CODE = {
    authentication_required: "session_ended",
    otp_required: "session_ended",
    outside_facility_network: "outside_network",
    lease_expired: "lease_expired",
    not_found: "lease_expired",
    clip_gone: "withdrawn",
    subject_opted_out: "withdrawn",
    account_suspended: "refused",
    vetting_expired: "refused",
    facility_inactive: "refused",
    region_not_approved: "refused",
    permission_denied: "refused",
  };

  function setStatus(text) {
    el.status.textContent = text;
  }

  function showState(name, message) {
    leaveClip();
    const state = STATES[name];
    root.dataset.state = name;
    el.state.dataset.state = name;
    el.stateTitle.textContent = state.title;
    el.stateText.textContent = message || state.text;
    el.stateAction.textContent = state.action;
    stateAction = name === "session_ended" ? goToLogin : takeNext;
    el.state.hidden = false;
    // The panel's heading takes the focus and is read with its text; the status line names it.
    setStatus(state.title + ".");
    el.stateTitle.focus();
    if (name === "session_ended") {
      sessionOver = true;
      hideWarning();
    }
  }

  function showError(result) {
    const name = STATE_OF_CODE[result.code] || "error";
    const useServerText = name === "refused" || name === "error";
    showState(name, useServerText ? result.message : "");
  }

  function goToLogin() {
    window.location.assign(cfg.loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
  }

  function showWarning(key, text) {
    el.warningText.textContent = text;
    el.warning.hidden = false;
    // role="alert" announces on change; only re-announce when the kind of warning changes.
    warningShown = key;
  }

  function hideWarning() {
    el.warning.hidden = true;
    warningShown = "";
  }

  // ---------------------------------------------------------------- the clip

  async function takeNext() {
    if (busy || sessionOver) {
      return;
    }
    busy = true;
    leaveClip();
    setStatus("Looking for the next clip…");
    const result = await api("POST", cfg.nextUrl);
    busy = false;
    if (!result.ok) {
      showError(result);
      return;
    }
    if (result.status === 204 || !result.data) {
      showState("empty");
      return;
    }
    await openClip(result.data);
  }

  async function openClip(data) {
    const mine = ++generation;
    current = {
      assignment: String(data.assignment),
      clip: String(data.clip),
      language: data.language,
      durationMs: Number(data.duration_ms) || 0,
      leaseEndsAt: serverTimeToLocal(data.lease_expires_at),
    };
    root.dataset.state = "clip";
    root.dataset.assignment = current.assignment;
    el.state.hidden = true;
    el.clip.hidden = false;
    el.language.textContent = current.language;
    el.duration.textContent = formatTime(current.durationMs / 1000);
    el.position.textContent = formatTime(0);
    el.play.textContent = "Play";
    el.play.disabled = true;
    hideFormError();
    peaks = null;
    drawWaveform();
    lastHeartbeat = Date.now();
    startPolling();
    setStatus("Loading the audio…");

    let response;
    try {
      response = await fetch(data.audio_url, { credentials: "same-origin", cache: "no-store" });
    } catch (ignored) {
      if (mine === generation) {
        showState("error", "The audio could not be loaded.");
      }
      return;
    }
    if (mine !== generation) {
      return;
    }
    noteContact(response, false);
    if (!response.ok) {
      showError(await errorOf(response));
      return;
    }
    const bytes = await response.arrayBuffer();
    if (mine !== generation) {
      return;
    }
    confirmedAt = Date.now();
    const type = (response.headers.get("Content-Type") || "audio/wav").split(";")[0];
    blobUrl = URL.createObjectURL(new Blob([bytes], { type: type }));
    el.audio.src = blobUrl;
    el.audio.defaultPlaybackRate = RATES[rateIndex];
    el.audio.playbackRate = RATES[rateIndex];
    el.play.disabled = false;
    root.dataset.audio = "ready";
    // For the page-speed bench: when the first clip became playable.
    if (performance.getEntriesByName("workbench:clip-ready").length === 0) {
      performance.mark("workbench:clip-ready");
    }
    setStatus(
      "Clip ready: " + current.language + ", " + (current.durationMs / 1000).toFixed(1) +
        " seconds. Press Escape to play, type the transcript, Control+Enter to submit."
    );
    el.transcript.focus();
    decodePeaks(bytes, mine);
  }

  function leaveClip() {
    generation++;
    stopPolling();
    hideWarning();
    if (!el.audio.paused) {
      el.audio.pause();
    }
    el.audio.removeAttribute("src");
    el.audio.load();
    if (blobUrl) {
      URL.revokeObjectURL(blobUrl);
      blobUrl = null;
    }
    peaks = null;
    current = null;
    delete root.dataset.assignment;
    delete root.dataset.audio;
    el.transcript.value = "";
    el.form.querySelectorAll('input[name="flags"]').forEach((box) => {
      box.checked = false;
    });
    hideFormError();
    el.clip.hidden = true;
  }

  // ---------------------------------------------------------------- lease, heartbeats, polling

  async function heartbeat() {
    if (!current || heartbeatInFlight) {
      return;
    }
    heartbeatInFlight = true;
    lastHeartbeat = Date.now();
    const mine = generation;
    const result = await api("POST", assignmentUrl("heartbeat"));
    heartbeatInFlight = false;
    if (mine !== generation) {
      return;
    }
    if (!result.ok) {
      showError(result);
      return;
    }
    confirmedAt = Date.now();
    current.leaseEndsAt = serverTimeToLocal(result.data.lease_expires_at);
    if (warningShown) {
      hideWarning();
    }
  }

  function working() {
    if (current && Date.now() - lastHeartbeat >= cfg.heartbeatMs) {
      heartbeat();
    }
  }

  function poll() {
    if (!current) {
      return Promise.resolve();
    }
    if (!pollPromise) {
      pollPromise = pollOnce().finally(() => {
        pollPromise = null;
      });
    }
    return pollPromise;
  }

  async function pollOnce() {
    const mine = generation;
    const result = await api("GET", assignmentUrl(""), undefined, true);
    if (mine !== generation) {
      return;
    }
    if (!result.ok) {
      showError(result);
      return;
    }
    const status = result.data.status;
    if (status === "active") {
      confirmedAt = Date.now();
      current.leaseEndsAt = serverTimeToLocal(result.data.lease_expires_at);
    } else if (status === "expired") {
      showState("lease_expired");
    } else if (status === "revoked") {
      showState("withdrawn");
    } else if (status === "released") {
      showState("released");
    } else if (status === "submitted") {
      takeNext();
    }
  }

  function startPolling() {
    stopPolling();
    // The page learns of an opt-out or a revoked lease within a few seconds, even while idle.
    pollTimer = window.setInterval(poll, cfg.pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) {
      window.clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  function tick() {
    const now = Date.now();
    if (sessionOver) {
      return;
    }
    if (current) {
      const left = current.leaseEndsAt - now;
      el.countdown.textContent = formatClock(left);
      el.countdown.classList.toggle("ending", left < LEASE_WARN_MS);
      if (left <= 0) {
        poll();
      } else if (left < LEASE_WARN_MS) {
        if (warningShown !== "lease") {
          showWarning("lease", "Your lease on this clip ends soon. Keep typing or choose Keep working to hold it.");
        }
      } else if (warningShown === "lease") {
        hideWarning();
      }
      return;
    }
    const idleLeft = lastContact + cfg.idleMs - now;
    if (idleLeft <= 0) {
      showState("session_ended", "You were signed out after " + Math.round(cfg.idleMs / 60000) + " minutes without activity.");
    } else if (idleLeft < SESSION_WARN_MS) {
      if (warningShown !== "session") {
        showWarning("session", "You will be signed out soon for inactivity. Choose Keep working to stay signed in.");
      }
    } else if (warningShown === "session") {
      hideWarning();
    }
  }

  function keepWorking() {
    hideWarning();
    if (current) {
      heartbeat();
    } else {
      takeNext();
    }
  }

  // ---------------------------------------------------------------- submit and release

  function selectedFlags() {
    return Array.from(el.form.querySelectorAll('input[name="flags"]:checked')).map((box) => box.value);
  }

  function showFormError(text) {
    el.formError.textContent = text;
    el.formError.hidden = false;
  }

  function hideFormError() {
    el.formError.textContent = "";
    el.formError.hidden = true;
  }

  async function submit(event) {
    if (event) {
      event.preventDefault();
    }
    if (!current || busy) {
      return;
    }
    const text = el.transcript.value;
    const flags = selectedFlags();
    if (!text.trim() && flags.length === 0) {
      showFormError("Write the transcript, or set a flag that says why there is none.");
      el.transcript.focus();
      return;
    }
    busy = true;
    el.submit.disabled = true;
    const mine = generation;
    const result = await api("POST", assignmentUrl("transcript"), { text: text, flags: flags });
    busy = false;
    el.submit.disabled = false;
    if (mine !== generation) {
      return;
    }
    if (!result.ok) {
      if (result.code === "validation_error") {
        showFormError(describeFields(result));
        return;
      }
      showError(result);
      return;
    }
    setStatus("Transcript sent.");
    await takeNext();
  }

  function describeFields(result) {
    if (!result.fields) {
      return result.message;
    }
    return Object.keys(result.fields)
      .map((name) => name + ": " + [].concat(result.fields[name]).join(" "))
      .join(" ");
  }

  async function release() {
    if (!current || busy) {
      return;
    }
    busy = true;
    const mine = generation;
    const result = await api("POST", assignmentUrl("release"));
    busy = false;
    if (mine !== generation) {
      return;
    }
    if (!result.ok) {
      showError(result);
      return;
    }
    showState("released");
  }

  async function logout() {
    sessionOver = true;
    leaveClip();
    await api("POST", cfg.logoutUrl);
    window.location.assign(cfg.loginUrl);
  }

  // ---------------------------------------------------------------- playback

  function startPlayback() {
    el.audio.play().catch(() => setStatus("The browser did not start playback; press Play."));
  }

  function togglePlay() {
    if (!current || !blobUrl) {
      return;
    }
    if (!el.audio.paused) {
      el.audio.pause();
      return;
    }
    if (Date.now() - confirmedAt < CONFIRMED_FRESH_MS) {
      startPlayback();
      return;
    }
    const mine = generation;
    poll().then(() => {
      if (mine === generation && current && Date.now() - confirmedAt < CONFIRMED_FRESH_MS) {
        startPlayback();
      }
    });
  }

  function seekTo(seconds) {
    const duration = el.audio.duration;
    if (!Number.isFinite(duration)) {
      return;
    }
    el.audio.currentTime = Math.min(Math.max(seconds, 0), duration);
    updatePosition();
    working();
  }

  function changeRate(step) {
    rateIndex = Math.min(Math.max(rateIndex + step, 0), RATES.length - 1);
    el.audio.defaultPlaybackRate = RATES[rateIndex];
    el.audio.playbackRate = RATES[rateIndex];
    el.rate.textContent = RATES[rateIndex].toFixed(2) + "×";
    setStatus("Speed " + RATES[rateIndex] + " times.");
  }

  function updatePosition() {
    const position = el.audio.currentTime || 0;
    const duration = Number.isFinite(el.audio.duration) ? el.audio.duration : current ? current.durationMs / 1000 : 0;
    el.position.textContent = formatTime(position);
    el.wave.setAttribute("aria-valuemax", duration.toFixed(1));
    el.wave.setAttribute("aria-valuenow", position.toFixed(1));
    el.wave.setAttribute("aria-valuetext", position.toFixed(1) + " of " + duration.toFixed(1) + " seconds");
    drawWaveform();
  }

  function animate() {
    updatePosition();
    if (!el.audio.paused) {
      window.requestAnimationFrame(animate);
    }
  }

  // ---------------------------------------------------------------- waveform

  async function decodePeaks(bytes, mine) {
    const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    if (!Offline) {
      return;
    }
    let buffer;
    try {
      buffer = await new Offline(1, 1, 22050).decodeAudioData(bytes.slice(0));
    } catch (ignored) {
      return; // the player still works; only the picture is missing
    }
    if (mine !== generation) {
      return;
    }
    const channels = [];
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      channels.push(buffer.getChannelData(c));
    }
    const length = buffer.length;
    const buckets = Math.max(1, Math.min(PEAK_BUCKETS, length));
    const result = new Float32Array(buckets * 2);
    for (let b = 0; b < buckets; b++) {
      const start = Math.floor((b * length) / buckets);
      const end = Math.max(start + 1, Math.floor(((b + 1) * length) / buckets));
      let low = 0;
      let high = 0;
      for (const samples of channels) {
        for (let i = start; i < end; i++) {
          const value = samples[i];
          if (value < low) low = value;
          if (value > high) high = value;
        }
      }
      result[b * 2] = low;
      result[b * 2 + 1] = high;
    }
    let loudest = 0;
    for (let i = 0; i < result.length; i++) {
      loudest = Math.max(loudest, Math.abs(result[i]));
    }
    peaks = result;
    peakScale = loudest > 0 ? 0.95 / loudest : 1;
    root.dataset.waveform = "drawn";
    drawWaveform();
  }

  function drawWaveform() {
    const canvas = el.wave;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const middle = height / 2;
    ctx.fillStyle = "#d5d9e0";
    ctx.fillRect(0, Math.floor(middle), width, Math.max(1, Math.round(ratio)));
    if (!peaks) {
      return;
    }
    const duration = Number.isFinite(el.audio.duration) && el.audio.duration > 0 ? el.audio.duration : 0;
    const played = duration ? (el.audio.currentTime / duration) * width : 0;
    const buckets = peaks.length / 2;
    for (let x = 0; x < width; x++) {
      const from = Math.floor((x * buckets) / width);
      const to = Math.max(from + 1, Math.floor(((x + 1) * buckets) / width));
      let low = 0;
      let high = 0;
      for (let b = from; b < to; b++) {
        if (peaks[b * 2] < low) low = peaks[b * 2];
        if (peaks[b * 2 + 1] > high) high = peaks[b * 2 + 1];
      }
      const top = middle - high * middle * peakScale;
      const bottom = middle - low * middle * peakScale;
      ctx.fillStyle = x < played ? "#1f5fbf" : "#8c96a8";
      ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
    if (duration) {
      ctx.fillStyle = "#b3261e";
      ctx.fillRect(Math.min(width - 2, Math.floor(played)), 0, Math.max(2, Math.round(ratio)), height);
    }
  }

  // ---------------------------------------------------------------- formatting

  function formatTime(seconds) {
    const s = Math.max(0, seconds || 0);
    const minutes = Math.floor(s / 60);
    const rest = s - minutes * 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest.toFixed(1);
  }

  function formatClock(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const minutes = Math.floor(total / 60);
    const seconds = total % 60;
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
  }

  // ---------------------------------------------------------------- wiring

  function onKey(event) {
    if (!current) {
      return;
    }
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey;
    if (event.key === "Escape" && plain) {
      event.preventDefault();
      togglePlay();
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyJ") {
      event.preventDefault();
      seekTo(el.audio.currentTime - BACK_SECONDS);
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "Comma") {
      event.preventDefault();
      changeRate(-1);
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "Period") {
      event.preventDefault();
      changeRate(1);
    } else if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit();
    }
  }

  function onWaveKey(event) {
    const steps = { ArrowLeft: -1, ArrowRight: 1, PageDown: -5, PageUp: 5 };
    if (event.key in steps) {
      event.preventDefault();
      seekTo(el.audio.currentTime + steps[event.key]);
    } else if (event.key === "Home") {
      event.preventDefault();
      seekTo(0);
    } else if (event.key === "End") {
      event.preventDefault();
      seekTo(el.audio.duration);
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      togglePlay();
    }
  }

  function onWaveClick(event) {
    const box = el.wave.getBoundingClientRect();
    if (box.width > 0 && Number.isFinite(el.audio.duration)) {
      seekTo(((event.clientX - box.left) / box.width) * el.audio.duration);
    }
  }

  document.addEventListener("keydown", onKey);
  el.wave.addEventListener("keydown", onWaveKey);
  el.wave.addEventListener("click", onWaveClick);
  el.play.addEventListener("click", togglePlay);
  el.back.addEventListener("click", () => seekTo(el.audio.currentTime - BACK_SECONDS));
  el.slower.addEventListener("click", () => changeRate(-1));
  el.faster.addEventListener("click", () => changeRate(1));
  el.form.addEventListener("submit", submit);
  el.release.addEventListener("click", release);
  el.logout.addEventListener("click", logout);
  el.stateAction.addEventListener("click", () => stateAction && stateAction());
  el.keepWorking.addEventListener("click", keepWorking);
  el.transcript.addEventListener("input", working);
  el.form.addEventListener("change", working);
  el.audio.addEventListener("play", () => {
    el.play.textContent = "Pause";
    working();
    animate();
  });
  el.audio.addEventListener("pause", () => {
    el.play.textContent = "Play";
    updatePosition();
  });
  el.audio.addEventListener("ended", () => {
    el.play.textContent = "Play";
    updatePosition();
  });
  el.audio.addEventListener("loadedmetadata", updatePosition);
  el.audio.addEventListener("seeked", updatePosition);
  window.addEventListener("resize", drawWaveform);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      poll();
    }
  });
  // Leaving with unsent text asks first: the text exists only on this page.
  window.addEventListener("beforeunload", (event) => {
    if (current && el.transcript.value.trim() && !sessionOver) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  window.setInterval(tick, 500);
  takeNext();
})();
