/* The reviewer's workbench: lease a clip, listen, transcribe, submit, next.
 *
 * The server is the control: every call re-checks session, facility network, lease and opt-out,
 * and this page only reflects its answers. What the reviewer types lives in the page and nowhere
 * else (no localStorage, no sessionStorage, no cookie); so do the player settings, which last as
 * long as the page. The audio is fetched with the session cookie and played from a blob: URL that
 * is revoked as soon as the clip is left; the page never shows a link to it.
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
    progressUrl: root.dataset.progressUrl,
    logoutUrl: root.dataset.logoutUrl,
    loginUrl: root.dataset.loginUrl,
    idleMs: Number(root.dataset.idleSeconds || 900) * 1000,
    // The lease is asked for this often while the tab shows or plays: a withdrawal stops the sound within a second.
    pollMs: Number(root.dataset.pollMs || 750),
    idlePollMs: Number(root.dataset.idlePollMs || 5000),
    // Typing extends the lease and the session through a heartbeat, at most once per this gap.
    heartbeatMs: Number(root.dataset.heartbeatSeconds || 30) * 1000,
  };

  const byId = (id) => document.getElementById(id);
  const el = {};
  [
    "status", "warning", "warning-text", "warning-countdown", "keep-working", "state", "state-title",
    "state-text", "state-action", "kept", "kept-text", "retake", "copy", "clip", "clip-language",
    "lease-countdown", "audio", "waveform", "play", "back", "forward", "slower", "faster", "rate",
    "zoom-in", "zoom-out", "zoom", "volume", "position", "duration", "loop", "loop-clear", "rewind",
    "step", "hover-time", "transcript-form", "transcript", "form-error", "submit", "release", "logout",
    "done-session", "done-today", "worked-session", "worked-today", "queue-size", "show-shortcuts",
    "shortcut-sheet", "sheet-table", "kept-words",
  ].forEach((id) => {
    el[id.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = byId(id);
  });
  const form = el.transcriptForm;

  const LEASE_WARN_MS = 90 * 1000;
  const SESSION_WARN_MS = 2 * 60 * 1000;
  const PEAK_BUCKETS = 4000;
  const ZOOMS = [1, 2, 4, 8, 16, 32];
  const RULER_PX = 18; // the time ruler's height at the top of the waveform, in CSS pixels
  const DRAG_PX = 4; // a pointer that moves less than this is a click (seek), more is a loop drag
  const MIN_LOOP_S = 0.1;
  // While playing, the slider tells assistive technology where it is at most this often.
  const ANNOUNCE_MS = 5000;
  // Playback starts only on a lease the server confirmed this recently: the audio sits in this
  // page's memory, and an opt-out must stop it being played again, not just downloaded again.
  const CONFIRMED_FRESH_MS = 2000;

  // Player settings: for this page's lifetime, for every clip; never written to storage.
  const prefs = { rate: 1, volume: 1, rewind: 1, step: 3, zoom: 0 };

  let current = null; // the open lease
  let kept = null; // {assignment, text, flags} of a lease that ran out, shown for copying or retaking
  let generation = 0; // bumped whenever a clip is opened or left: late answers for an old clip are ignored
  let blobUrl = null;
  let peaks = null;
  let peakScale = 1; // quiet recordings are drawn as tall as loud ones
  let loop = { a: null, b: null };
  let drag = null; // {x, t, view, moved} while the pointer is down on the waveform
  let hoverT = null;
  let pausedAt = null; // where playback was paused: resuming from there rewinds a little
  let lastAnnounce = 0;
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
  let progress = null; // the server's last answer and when it came

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

  function assignmentUrl(id, suffix) {
    return cfg.assignmentsUrl + encodeURIComponent(id) + (suffix ? "/" + suffix : "");
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
      text: "Your lease on this clip ended and the clip went back to the queue.",
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
    // Only a lease that ran out keeps the text: after an opt-out it is the speaker's to withdraw,
    // and after a session ended this page has no one to give it to.
    if (name === "withdrawn" || name === "session_ended") {
      kept = null;
    }
    leaveClip(name === "lease_expired");
    const state = STATES[name];
    root.dataset.state = name;
    el.state.dataset.state = name;
    el.stateTitle.textContent = state.title;
    let text = message || state.text;
    if (kept && kept.text) {
      text += " What you typed is below: take the clip again (Alt+G) to go on with it, or copy it (Alt+C).";
    } else if (kept) {
      text += " You can take it again (Alt+G) if no one else has.";
    }
    el.stateText.textContent = text;
    el.stateAction.textContent = state.action;
    // With text kept, taking it again is the first choice and the next clip the second.
    el.stateAction.classList.toggle("secondary", Boolean(kept));
    stateAction = name === "session_ended" ? goToLogin : takeNext;
    showKept();
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
    el.warningCountdown.textContent = "";
    warningShown = "";
  }

  function showKept() {
    el.kept.hidden = !kept;
    el.keptWords.hidden = !(kept && kept.text);
    el.copy.hidden = el.keptWords.hidden;
    el.keptText.value = kept ? kept.text : "";
    el.keptText.lang = kept ? kept.language : "";
    el.retake.disabled = false;
  }

  // ---------------------------------------------------------------- the clip

  async function takeNext() {
    if (busy || sessionOver) {
      return;
    }
    busy = true;
    kept = null;
    leaveClip(false);
    setStatus("Looking for the next clip…");
    const result = await api("POST", cfg.nextUrl);
    busy = false;
    if (!result.ok) {
      showError(result);
      return;
    }
    if (result.status === 204 || !result.data) {
      showState("empty");
      loadProgress();
      return;
    }
    await openClip(result.data);
  }

  async function retake() {
    if (!kept || busy || sessionOver) {
      return;
    }
    busy = true;
    el.retake.disabled = true;
    const result = await api("POST", assignmentUrl(kept.assignment, "retake"));
    busy = false;
    if (!result.ok) {
      el.retake.disabled = false;
      if (result.code === "not_found" || result.code === "conflict") {
        setStatus("That clip is no longer available to you. Your text is still here to copy.");
        el.stateText.textContent =
          "The clip is no longer available to you (someone else took it, or it was withdrawn). Copy your text if you need it, then take the next clip.";
        el.retake.hidden = true;
        return;
      }
      showError(result);
      return;
    }
    const restore = kept;
    kept = null;
    await openClip(result.data, restore);
  }

  async function openClip(data, restore) {
    leaveClip(false);
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
    el.kept.hidden = true;
    el.retake.hidden = false;
    el.clip.hidden = false;
    el.clipLanguage.textContent = current.language;
    // The transcript is in the clip's language: screen readers and input methods follow it.
    el.transcript.lang = current.language;
    if (restore) {
      el.transcript.value = restore.text;
      setFlags(restore.flags);
    }
    el.duration.textContent = formatTime(current.durationMs / 1000);
    el.position.textContent = formatTime(0);
    el.play.textContent = "Play";
    el.play.disabled = true;
    hideFormError();
    peaks = null;
    loop = { a: null, b: null };
    pausedAt = null;
    showLoop();
    drawWaveform();
    lastHeartbeat = Date.now();
    schedulePoll();
    loadProgress();
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
    applyPrefs();
    el.play.disabled = false;
    root.dataset.audio = "ready";
    // For the page-speed bench: when the first clip became playable.
    if (performance.getEntriesByName("workbench:clip-ready").length === 0) {
      performance.mark("workbench:clip-ready");
    }
    setStatus(
      "Clip ready: " + current.language + ", " + (current.durationMs / 1000).toFixed(1) +
        " s. Escape plays, Control+Enter submits, Alt+/ lists every key."
    );
    el.transcript.focus();
    decodePeaks(bytes, mine);
  }

  function leaveClip(keepText) {
    if (keepText && current) {
      kept = {
        assignment: current.assignment,
        language: current.language,
        text: el.transcript.value,
        flags: selectedFlags(),
      };
    }
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
    delete root.dataset.waveform;
    el.transcript.value = "";
    setFlags([]);
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
    const result = await api("POST", assignmentUrl(current.assignment, "heartbeat"));
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
    const result = await api("GET", assignmentUrl(current.assignment, ""), undefined, true);
    if (mine !== generation) {
      return;
    }
    if (!result.ok && (result.status === 0 || result.status >= 500)) {
      // No word from the server is no confirmation: the sound stops, the clip and text stay,
      // and the next poll tries again.
      if (!el.audio.paused) {
        el.audio.pause();
        setStatus("The server did not answer; playback is paused until it does.");
      }
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

  function schedulePoll() {
    stopPolling();
    if (!current) {
      return;
    }
    const quiet = document.visibilityState === "hidden" && el.audio.paused;
    pollTimer = window.setTimeout(() => {
      pollTimer = null;
      poll().then(schedulePoll);
    }, quiet ? cfg.idlePollMs : cfg.pollMs);
  }

  function stopPolling() {
    if (pollTimer !== null) {
      window.clearTimeout(pollTimer);
      pollTimer = null;
    }
  }

  function tick() {
    const now = Date.now();
    if (sessionOver) {
      return;
    }
    showWorked();
    if (current) {
      const left = current.leaseEndsAt - now;
      el.leaseCountdown.textContent = formatClock(left);
      el.leaseCountdown.classList.toggle("ending", left < LEASE_WARN_MS);
      if (left <= 0) {
        poll();
      } else if (left < LEASE_WARN_MS) {
        if (warningShown !== "lease") {
          showWarning(
            "lease",
            "Your lease ends soon: type, or press Alt+K, to hold it. If it ends, your text stays here."
          );
        }
        el.warningCountdown.textContent = formatClock(left);
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
        showWarning("session", "You will be signed out soon for inactivity: Keep working (Alt+K) stays signed in.");
      }
      el.warningCountdown.textContent = formatClock(idleLeft);
    } else if (warningShown === "session") {
      hideWarning();
    }
  }

  function keepWorking() {
    hideWarning();
    if (current) {
      heartbeat();
    } else {
      loadProgress(false);
    }
  }

  // ---------------------------------------------------------------- progress

  async function loadProgress(background = true) {
    const result = await api("GET", cfg.progressUrl, undefined, background);
    if (!result.ok || !result.data) {
      return;
    }
    progress = { data: result.data, at: Date.now(), leased: Boolean(current) };
    const data = result.data;
    el.doneSession.textContent = countOf(data.done_session);
    el.doneToday.textContent = countOf(data.done_today);
    el.queueSize.textContent = (data.queue_size_capped ? "at least " : "") + countOf(data.queue_size);
    showWorked();
  }

  function showWorked() {
    if (!progress) {
      return;
    }
    // A running lease keeps counting between answers; the server's figure is the truth at each answer.
    const running = progress.leased && current ? (Date.now() - progress.at) / 1000 : 0;
    el.workedSession.textContent = formatDuration(progress.data.worked_seconds_session + running);
    el.workedToday.textContent = formatDuration(progress.data.worked_seconds_today + running);
  }

  function countOf(n) {
    return n + (n === 1 ? " clip" : " clips");
  }

  // ---------------------------------------------------------------- submit and release

  function selectedFlags() {
    return Array.from(form.querySelectorAll('input[name="flags"]:checked')).map((box) => box.value);
  }

  function setFlags(flags) {
    form.querySelectorAll('input[name="flags"]').forEach((box) => {
      box.checked = flags.indexOf(box.value) !== -1;
    });
  }

  function toggleFlag(value) {
    const box = form.querySelector('input[name="flags"][value="' + value + '"]');
    box.checked = !box.checked;
    setStatus(box.parentElement.textContent.trim() + (box.checked ? ": flagged." : ": not flagged."));
    working();
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
    const result = await api("POST", assignmentUrl(current.assignment, "transcript"), { text: text, flags: flags });
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
    const result = await api("POST", assignmentUrl(current.assignment, "release"));
    busy = false;
    if (mine !== generation) {
      return;
    }
    if (!result.ok) {
      showError(result);
      return;
    }
    showState("released");
    loadProgress();
  }

  async function copyKept() {
    if (!kept || !kept.text) {
      return;
    }
    try {
      await navigator.clipboard.writeText(kept.text);
    } catch (ignored) {
      // Without the async clipboard (an insecure origin), the selected text is copied the old way.
      el.keptText.select();
      document.execCommand("copy");
    }
    setStatus("Your text is on the clipboard.");
  }

  async function logout() {
    sessionOver = true;
    kept = null;
    leaveClip(false);
    await api("POST", cfg.logoutUrl);
    window.location.assign(cfg.loginUrl);
  }

  // ---------------------------------------------------------------- playback

  function applyPrefs() {
    el.audio.defaultPlaybackRate = prefs.rate;
    el.audio.playbackRate = prefs.rate;
    el.audio.volume = prefs.volume;
    el.rate.textContent = prefs.rate.toFixed(1) + "×";
    el.zoom.textContent = ZOOMS[prefs.zoom] + "×";
    el.volume.value = String(Math.round(prefs.volume * 100));
    el.rewind.value = String(prefs.rewind);
    el.step.value = String(prefs.step);
    document.querySelectorAll(".step").forEach((span) => {
      span.textContent = String(prefs.step);
    });
  }

  function startPlayback() {
    // Resuming where it paused rewinds; after a seek or at the end it plays from where it is.
    if (pausedAt !== null && Math.abs(el.audio.currentTime - pausedAt) < 0.05 && !el.audio.ended && prefs.rewind > 0) {
      const floor = loopActive() ? loop.a : 0;
      el.audio.currentTime = Math.max(floor, el.audio.currentTime - prefs.rewind);
    }
    el.audio.play().catch(() => setStatus("The browser did not start playback; press Play."));
  }

  function togglePlay() {
    if (!current || !blobUrl) {
      return;
    }
    if (!el.audio.paused) {
      el.audio.pause();
      // Now, not only in the "pause" event: a resume that comes before the event is delivered
      // must still find where it paused.
      pausedAt = el.audio.currentTime;
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

  function duration() {
    if (Number.isFinite(el.audio.duration) && el.audio.duration > 0) {
      return el.audio.duration;
    }
    return current ? current.durationMs / 1000 : 0;
  }

  function seekTo(seconds) {
    if (!Number.isFinite(el.audio.duration)) {
      return;
    }
    el.audio.currentTime = Math.min(Math.max(seconds, 0), el.audio.duration);
    updatePosition(true);
    working();
  }

  function skip(direction) {
    seekTo(el.audio.currentTime + direction * prefs.step);
  }

  function changeRate(step) {
    // Tenths from 0.5 to 2: whole numbers of tenths, so 0.1 steps never drift.
    const tenths = Math.min(20, Math.max(5, Math.round(prefs.rate * 10) + step));
    prefs.rate = tenths / 10;
    applyPrefs();
    setStatus("Speed " + prefs.rate.toFixed(1) + " times.");
  }

  function changeVolume(step) {
    prefs.volume = Math.min(1, Math.max(0, Math.round(prefs.volume * 100 + step) / 100));
    applyPrefs();
    setStatus("Volume " + Math.round(prefs.volume * 100) + " percent.");
  }

  function changeZoom(step) {
    prefs.zoom = Math.min(ZOOMS.length - 1, Math.max(0, prefs.zoom + step));
    applyPrefs();
    drawWaveform();
    setStatus("Waveform zoom " + ZOOMS[prefs.zoom] + " times.");
  }

  function insertTimestamp() {
    const stamp = "[" + formatTime(el.audio.currentTime || 0) + "] ";
    const box = el.transcript;
    box.setRangeText(stamp, box.selectionStart, box.selectionEnd, "end");
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // ---------------------------------------------------------------- the A–B loop

  function loopActive() {
    return loop.a !== null && loop.b !== null && loop.b - loop.a >= MIN_LOOP_S;
  }

  function setLoop(a, b) {
    loop = { a: a, b: b };
    if (loopActive() && (el.audio.currentTime < loop.a || el.audio.currentTime > loop.b)) {
      seekTo(loop.a);
    }
    showLoop();
    drawWaveform();
    setStatus(loopActive() ? "Loop " + describeLoop() + "." : loop.a !== null ? "Loop starts at " + formatTime(loop.a) + "." : "Loop cleared.");
  }

  function markLoop(end) {
    const t = el.audio.currentTime || 0;
    if (end === "a") {
      setLoop(t, loop.b !== null && loop.b > t ? loop.b : null);
    } else {
      setLoop(loop.a !== null && loop.a < t ? loop.a : 0, t);
    }
  }

  function describeLoop() {
    return formatTime(loop.a) + " to " + formatTime(loop.b);
  }

  function showLoop() {
    el.loop.textContent = loopActive()
      ? "Loop " + formatTime(loop.a) + "–" + formatTime(loop.b)
      : loop.a !== null
        ? "Loop from " + formatTime(loop.a) + " (Alt+] ends it)"
        : "No loop";
    el.loopClear.disabled = loop.a === null;
    if (loopActive()) {
      root.dataset.loop = loop.a.toFixed(2) + "-" + loop.b.toFixed(2);
    } else {
      delete root.dataset.loop;
    }
  }

  function keepInLoop() {
    if (loopActive() && el.audio.currentTime >= loop.b) {
      el.audio.currentTime = loop.a;
    }
  }

  // ---------------------------------------------------------------- position and slider

  function updatePosition(announce) {
    const position = el.audio.currentTime || 0;
    const total = duration();
    el.position.textContent = formatTime(position);
    const now = Date.now();
    // Announced on a seek or pause, and while playing only every few seconds: not per frame.
    if (announce || el.audio.paused || now - lastAnnounce >= ANNOUNCE_MS) {
      lastAnnounce = now;
      el.waveform.setAttribute("aria-valuemax", total.toFixed(1));
      el.waveform.setAttribute("aria-valuenow", position.toFixed(1));
      el.waveform.setAttribute(
        "aria-valuetext",
        position.toFixed(1) + " of " + total.toFixed(1) + " seconds" + (loopActive() ? ", loop " + describeLoop() : "")
      );
    }
    drawWaveform();
  }

  function animate() {
    keepInLoop();
    updatePosition(false);
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
    let loudest = 0;
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
      loudest = Math.max(loudest, -low, high);
    }
    peaks = result;
    peakScale = loudest > 0 ? 0.95 / loudest : 1;
    root.dataset.waveform = "drawn";
    drawWaveform();
  }

  // The part of the clip the waveform shows: all of it, or a zoomed window around the playhead.
  function view() {
    if (drag) {
      return drag.view; // held still while a loop is being dragged
    }
    const total = duration();
    const span = total / ZOOMS[prefs.zoom];
    const start = Math.min(Math.max(0, (el.audio.currentTime || 0) - span / 2), Math.max(0, total - span));
    return { start: start, span: span || 1 };
  }

  function timeAt(clientX, shown) {
    const box = el.waveform.getBoundingClientRect();
    const fraction = box.width > 0 ? Math.min(1, Math.max(0, (clientX - box.left) / box.width)) : 0;
    return shown.start + fraction * shown.span;
  }

  function rulerStep(span, width) {
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];
    return steps.find((s) => (s / span) * width >= 70) || 600;
  }

  function drawWaveform() {
    const canvas = el.waveform;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const ruler = Math.round(RULER_PX * ratio);
    const top = ruler;
    const middle = top + (height - top) / 2;
    const half = (height - top) / 2;
    const shown = view();
    const xOf = (t) => ((t - shown.start) / shown.span) * width;
    const total = duration();

    // Ruler: ticks and labels, dark enough to read (#4a5261 on the canvas's near-white).
    ctx.fillStyle = "#eef1f5";
    ctx.fillRect(0, 0, width, ruler);
    ctx.fillStyle = "#4a5261";
    ctx.font = Math.round(11 * ratio) + "px ui-monospace, monospace";
    ctx.textBaseline = "middle";
    const step = rulerStep(shown.span, width / ratio);
    for (let t = Math.ceil(shown.start / step) * step; t <= shown.start + shown.span + 1e-9; t += step) {
      const x = Math.round(xOf(t));
      ctx.fillRect(x, ruler - Math.round(6 * ratio), Math.max(1, Math.round(ratio)), Math.round(6 * ratio));
      if (x < width - 40 * ratio) {
        ctx.fillText(step < 1 ? formatTime(t) : formatClock(t * 1000), x + 3 * ratio, ruler / 2 - ratio);
      }
    }

    if (loopActive() || (drag && drag.moved)) {
      const a = drag && drag.moved ? Math.min(drag.t, drag.now) : loop.a;
      const b = drag && drag.moved ? Math.max(drag.t, drag.now) : loop.b;
      ctx.fillStyle = "rgba(31, 95, 191, 0.14)";
      ctx.fillRect(xOf(a), top, xOf(b) - xOf(a), height - top);
      ctx.fillStyle = "#1f5fbf";
      ctx.fillRect(Math.round(xOf(a)), top, Math.max(2, Math.round(ratio)), height - top);
      ctx.fillRect(Math.round(xOf(b)), top, Math.max(2, Math.round(ratio)), height - top);
    }

    ctx.fillStyle = "#6b7487";
    ctx.fillRect(0, Math.floor(middle), width, Math.max(1, Math.round(ratio)));
    const position = el.audio.currentTime || 0;
    if (peaks && total > 0) {
      const buckets = peaks.length / 2;
      for (let x = 0; x < width; x++) {
        const t0 = shown.start + (x / width) * shown.span;
        const t1 = shown.start + ((x + 1) / width) * shown.span;
        const from = Math.floor((t0 / total) * buckets);
        const to = Math.max(from + 1, Math.floor((t1 / total) * buckets));
        let low = 0;
        let high = 0;
        for (let b = from; b < to && b < buckets; b++) {
          if (peaks[b * 2] < low) low = peaks[b * 2];
          if (peaks[b * 2 + 1] > high) high = peaks[b * 2 + 1];
        }
        const y0 = middle - high * half * peakScale;
        const y1 = middle - low * half * peakScale;
        // Played bars in the accent colour, the rest in a grey of 4.5:1 on the background.
        ctx.fillStyle = t0 < position ? "#1f5fbf" : "#6b7487";
        ctx.fillRect(x, y0, 1, Math.max(1, y1 - y0));
      }
    }
    if (total > 0) {
      ctx.fillStyle = "#b3261e";
      ctx.fillRect(Math.min(width - 2, Math.floor(xOf(position))), top, Math.max(2, Math.round(ratio)), height - top);
    }
    if (hoverT !== null) {
      ctx.fillStyle = "#1d2330";
      ctx.fillRect(Math.round(xOf(hoverT)), top, Math.max(1, Math.round(ratio)), height - top);
    }
  }

  function onWavePointerDown(event) {
    if (!current || !Number.isFinite(el.audio.duration) || event.button !== 0) {
      return;
    }
    // The pointer never takes the focus from the transcript: typing goes on where it was.
    event.preventDefault();
    const shown = view();
    const t = timeAt(event.clientX, shown);
    drag = { x: event.clientX, t: t, now: t, view: shown, moved: false };
    el.waveform.setPointerCapture(event.pointerId);
  }

  function onWavePointerMove(event) {
    const shown = drag ? drag.view : view();
    hoverT = current ? timeAt(event.clientX, shown) : null;
    el.hoverTime.textContent = hoverT === null ? "" : "Pointer at " + formatTime(hoverT);
    el.waveform.dataset.hover = hoverT === null ? "" : hoverT.toFixed(2);
    if (drag) {
      drag.now = hoverT;
      drag.moved = drag.moved || Math.abs(event.clientX - drag.x) > DRAG_PX;
    }
    drawWaveform();
  }

  function onWavePointerUp(event) {
    if (!drag) {
      return;
    }
    const done = drag;
    done.now = timeAt(event.clientX, done.view);
    drag = null;
    if (done.moved && Math.abs(done.now - done.t) >= MIN_LOOP_S) {
      setLoop(Math.min(done.t, done.now), Math.max(done.t, done.now));
    } else {
      seekTo(done.t);
    }
    el.transcript.focus();
  }

  function onWaveLeave() {
    hoverT = null;
    el.hoverTime.textContent = "";
    el.waveform.dataset.hover = "";
    drawWaveform();
  }

  function onWaveKey(event) {
    const steps = { ArrowLeft: -1, ArrowRight: 1, PageDown: -5, PageUp: 5 };
    if (event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
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

  function formatDuration(seconds) {
    const minutes = Math.floor(Math.max(0, seconds) / 60);
    return minutes < 60 ? minutes + " min" : Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // ---------------------------------------------------------------- keys

  // One table drives both the key handling and the shortcut sheet. Alt+letters the browser
  // itself uses (Alt+D, Alt+E, Alt+F, Alt+digits, Alt+arrows left/right) are left alone.
  const withClip = (action) => () => current && action();
  const KEYS = [
    { keys: ["Esc"], does: "Play / pause (resuming rewinds by the chosen time)", key: "Escape", run: withClip(togglePlay) },
    { keys: ["Alt", "J"], does: "Back by the skip step", alt: "KeyJ", run: withClip(() => skip(-1)) },
    { keys: ["Alt", "L"], does: "Forward by the skip step", alt: "KeyL", run: withClip(() => skip(1)) },
    { keys: ["Alt", ","], does: "Slower (0.1× steps, down to 0.5×)", alt: "Comma", run: () => changeRate(-1) },
    { keys: ["Alt", "."], does: "Faster (0.1× steps, up to 2×)", alt: "Period", run: () => changeRate(1) },
    { keys: ["Alt", "["], does: "Loop starts here", alt: "BracketLeft", run: withClip(() => markLoop("a")) },
    { keys: ["Alt", "]"], does: "Loop ends here", alt: "BracketRight", run: withClip(() => markLoop("b")) },
    { keys: ["Alt", "\\"], does: "Clear the loop", alt: "Backslash", run: withClip(() => setLoop(null, null)) },
    { keys: ["Alt", "T"], does: "Insert the current time at the cursor", alt: "KeyT", run: withClip(insertTimestamp) },
    { keys: ["Alt", "="], does: "Zoom the waveform in", alt: "Equal", run: () => changeZoom(1) },
    { keys: ["Alt", "-"], does: "Zoom the waveform out", alt: "Minus", run: () => changeZoom(-1) },
    { keys: ["Alt", "↑"], does: "Louder", alt: "ArrowUp", run: () => changeVolume(10) },
    { keys: ["Alt", "↓"], does: "Quieter", alt: "ArrowDown", run: () => changeVolume(-10) },
    { keys: ["Alt", "A"], does: "Flag: accidental activation", alt: "KeyA", flag: "accidental_activation", run: withClip(() => toggleFlag("accidental_activation")) },
    { keys: ["Alt", "N"], does: "Flag: no speech", alt: "KeyN", flag: "no_speech", run: withClip(() => toggleFlag("no_speech")) },
    { keys: ["Alt", "S"], does: "Flag: sensitive content", alt: "KeyS", flag: "sensitive", run: withClip(() => toggleFlag("sensitive")) },
    { keys: ["Ctrl", "Enter"], does: "Submit and take the next clip", ctrl: "Enter", run: () => submit() },
    { keys: ["Alt", "R"], does: "Release the clip (back to the queue)", alt: "KeyR", run: () => release() },
    { keys: ["Alt", "K"], does: "Keep working: hold the lease or the session", alt: "KeyK", run: keepWorking },
    { keys: ["Alt", "G"], does: "Take the clip again after its lease ran out, with your text", alt: "KeyG", run: () => retake() },
    { keys: ["Alt", "C"], does: "Copy the text kept from a lease that ran out", alt: "KeyC", run: () => copyKept() },
    { keys: ["Alt", "/"], does: "This list (also ? outside a text box)", alt: "Slash", run: () => openSheet() },
    { keys: ["←", "→"], does: "On the waveform: move 1 second (Page Up/Down: 5)" },
  ];

  function matches(binding, event) {
    const alt = event.altKey && !event.ctrlKey && !event.metaKey;
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey;
    if (binding.key) {
      return plain && event.key === binding.key;
    }
    if (binding.alt) {
      return alt && !event.shiftKey && event.code === binding.alt;
    }
    if (binding.ctrl) {
      return (event.ctrlKey || event.metaKey) && !event.altKey && event.key === binding.ctrl;
    }
    return false;
  }

  function inTextBox(target) {
    return target instanceof HTMLTextAreaElement || (target instanceof HTMLInputElement && target.type === "text");
  }

  function onKey(event) {
    if (el.shortcutSheet.open) {
      return; // the dialog handles Escape itself and gives the focus back when it closes
    }
    if (event.key === "?" && !event.altKey && !event.ctrlKey && !event.metaKey && !inTextBox(event.target)) {
      event.preventDefault();
      openSheet();
      return;
    }
    const binding = KEYS.find((b) => b.run && matches(b, event));
    if (binding) {
      event.preventDefault();
      binding.run();
    }
  }

  function buildSheet() {
    const body = el.sheetTable.tBodies[0];
    KEYS.forEach((binding) => {
      const row = body.insertRow();
      const keys = row.insertCell();
      binding.keys.forEach((name, index) => {
        if (index) {
          keys.append(binding.keys[0] === "←" ? " / " : " + ");
        }
        const kbd = document.createElement("kbd");
        kbd.textContent = name;
        keys.append(kbd);
      });
      row.insertCell().textContent = binding.does;
      if (binding.flag) {
        form.querySelector('input[value="' + binding.flag + '"]').setAttribute("aria-keyshortcuts", "Alt+" + binding.keys[1]);
      }
    });
  }

  function openSheet() {
    if (!el.shortcutSheet.open) {
      el.shortcutSheet.showModal();
    }
  }

  // After a pointer or button action the focus goes back to where the typing is.
  function backToTyping() {
    if (current) {
      el.transcript.focus();
    }
  }

  function onClick(button, action) {
    button.addEventListener("click", () => {
      action();
      backToTyping();
    });
  }

  // ---------------------------------------------------------------- wiring

  buildSheet();
  applyPrefs();
  document.addEventListener("keydown", onKey);
  el.waveform.addEventListener("keydown", onWaveKey);
  el.waveform.addEventListener("pointerdown", onWavePointerDown);
  el.waveform.addEventListener("mousedown", (event) => event.preventDefault());
  el.waveform.addEventListener("pointermove", onWavePointerMove);
  el.waveform.addEventListener("pointerup", onWavePointerUp);
  el.waveform.addEventListener("pointercancel", () => {
    drag = null;
    drawWaveform();
  });
  el.waveform.addEventListener("pointerleave", onWaveLeave);
  onClick(el.play, togglePlay);
  onClick(el.back, () => skip(-1));
  onClick(el.forward, () => skip(1));
  onClick(el.slower, () => changeRate(-1));
  onClick(el.faster, () => changeRate(1));
  onClick(el.zoomIn, () => changeZoom(1));
  onClick(el.zoomOut, () => changeZoom(-1));
  onClick(el.loopClear, () => setLoop(null, null));
  onClick(el.keepWorking, keepWorking);
  el.volume.addEventListener("input", () => {
    prefs.volume = Number(el.volume.value) / 100;
    el.audio.volume = prefs.volume;
  });
  el.volume.addEventListener("change", backToTyping);
  el.rewind.addEventListener("change", () => {
    prefs.rewind = Number(el.rewind.value);
    backToTyping();
  });
  el.step.addEventListener("change", () => {
    prefs.step = Number(el.step.value);
    applyPrefs();
    backToTyping();
  });
  form.addEventListener("submit", submit);
  el.release.addEventListener("click", release);
  el.logout.addEventListener("click", logout);
  el.stateAction.addEventListener("click", () => stateAction && stateAction());
  el.retake.addEventListener("click", retake);
  el.copy.addEventListener("click", copyKept);
  el.showShortcuts.addEventListener("click", openSheet);
  el.shortcutSheet.addEventListener("close", () => (current ? el.transcript : el.stateTitle).focus());
  el.transcript.addEventListener("input", working);
  form.addEventListener("change", working);
  el.audio.addEventListener("play", () => {
    el.play.textContent = "Pause";
    working();
    schedulePoll();
    animate();
  });
  el.audio.addEventListener("pause", () => {
    el.play.textContent = "Play";
    pausedAt = el.audio.currentTime;
    updatePosition(true);
  });
  el.audio.addEventListener("ended", () => {
    el.play.textContent = "Play";
    updatePosition(true);
  });
  // rAF stops in a hidden tab; timeupdate still comes a few times a second and keeps the loop.
  el.audio.addEventListener("timeupdate", keepInLoop);
  el.audio.addEventListener("loadedmetadata", () => updatePosition(true));
  el.audio.addEventListener("seeked", () => updatePosition(true));
  window.addEventListener("resize", drawWaveform);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && current) {
      poll().then(schedulePoll);
    }
  });
  // Leaving with unsent text asks first: the text exists only on this page.
  window.addEventListener("beforeunload", (event) => {
    if (((current && el.transcript.value.trim()) || kept) && !sessionOver) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  window.setInterval(tick, 500);
  takeNext();
})();
