// Login and enrolment pages: plain fetch() calls to the JSON API. No inline script (CSP).
"use strict";

(function () {
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  function errorText(result) {
    const error = result.data && result.data.error;
    if (!error) return "Something went wrong (" + result.status + ").";
    const fields = error.fields && Object.values(error.fields).flat().join(" ");
    return fields ? error.message + " " + fields : error.message;
  }

  function say(id, text) {
    const node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  const loginForm = document.getElementById("login-form");
  if (loginForm) {
    loginForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      say("login-status", "Signing in…");
      const result = await postJson("/api/v1/auth/login", {
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
        otp: document.getElementById("otp").value,
      });
      document.getElementById("otp").value = "";
      if (result.ok) {
        say("login-status", "Signed in.");
        window.location.assign(result.data.role === "reviewer" ? "/review/" : "/admin/");
      } else {
        say("login-status", errorText(result));
      }
    });
  }

  const acceptForm = document.getElementById("accept-form");
  if (acceptForm) {
    const parts = window.location.pathname.split("/").filter(Boolean);
    const token = encodeURIComponent(parts[parts.length - 1] || "");
    acceptForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const password = document.getElementById("password").value;
      if (password !== document.getElementById("password2").value) {
        say("invite-status", "The two passwords differ.");
        return;
      }
      say("invite-status", "Saving…");
      const result = await postJson("/api/v1/invites/" + token + "/accept", { password: password });
      if (!result.ok) { say("invite-status", errorText(result)); return; }
      document.getElementById("qr").src = result.data.qr_svg;
      document.getElementById("manual-key").textContent = result.data.manual_key;
      document.getElementById("step-password").hidden = true;
      document.getElementById("step-device").hidden = false;
      say("invite-status", "");
    });
    document.getElementById("confirm-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const result = await postJson("/api/v1/invites/" + token + "/confirm", {
        otp: document.getElementById("otp").value,
      });
      if (!result.ok) { say("invite-status", errorText(result)); return; }
      document.getElementById("step-device").hidden = true;
      document.getElementById("step-done").hidden = false;
      say("invite-status", "Enrolled as " + result.data.username + ".");
    });
  }
})();
