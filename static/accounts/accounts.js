// Login and enrolment pages: plain fetch() calls to the JSON API. No inline script (CSP).
"use strict";

(function () {
  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.reviewsvc.csrfToken() },
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

  // The security-key script (webauthn.js, loaded after this one) calls the API the same way.
  window.reviewsvcAccounts = { postJson: postJson, errorText: errorText, say: say };

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
        const home = { reviewer: "/review/", auditor: "/audit/" };
        window.location.assign(home[result.data.role] || "/admin/");
      } else {
        say("login-status", errorText(result));
      }
    });
  }

  const acceptForm = document.getElementById("accept-form");
  if (acceptForm) {
    // The token is the fragment (/invite/#<token>): browsers never send it, so it is in no
    // request line or log. It travels only in the bodies of the calls below.
    const token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    const invitePath = "/api/v1/invites";
    const password = document.getElementById("password");
    const password2 = document.getElementById("password2");
    const feedback = document.getElementById("password-feedback");
    const feedback2 = document.getElementById("password2-feedback");
    // Links that can no longer work, and the one place they can be used from, say so plainly.
    const LINK_PROBLEMS = {
      invite_used: "This invite link has already been used. If you set up your account with it, sign in instead.",
      invite_expired: "This invite link has expired (links are valid for 72 hours). Ask your facility's admin for a new one.",
      not_found: "This invite link is not valid. Check that you opened the whole link.",
      outside_facility_network: "Enrolment works only from your facility's network. Open the link from a computer there.",
    };
    let checkTimer = null;
    let checkSeq = 0;
    let passwordOk = false;

    // What the page says of a link that can no longer be used, before anything is typed.
    const DEAD_LINKS = {
      invite_used: ["used", "This invite link has already been used",
        "Each link works once. If you set up your account with it, sign in instead."],
      invite_expired: ["expired", "This invite link has expired", "Invite links are valid for 72 hours."],
      not_found: ["unknown", "This invite link is not valid",
        "Check that you opened the whole link from your invitation."],
    };

    function linkProblem(result) {
      const code = result.data && result.data.error && result.data.error.code;
      return LINK_PROBLEMS[code] || null;
    }

    function showDeadLink(code) {
      const [state, title, detail] = DEAD_LINKS[code] || DEAD_LINKS.not_found;
      const panel = document.getElementById("invite-problem");
      panel.dataset.state = state;
      say("problem-title", title);
      say("problem-detail", detail);
      panel.hidden = false;
    }

    // Is the link still usable? The blank password check answers that and stores nothing.
    async function openLink() {
      if (!token) { showDeadLink("not_found"); return; }
      const result = await postJson(invitePath + "/password-check", { token: token, password: "" });
      const code = result.data && result.data.error && result.data.error.code;
      if (!result.ok && DEAD_LINKS[code]) { showDeadLink(code); return; }
      document.getElementById("invite-steps").hidden = false;
    }
    openLink();

    function showStep(name) {
      ["password", "device", "done"].forEach(function (step) {
        document.getElementById("step-" + step).hidden = step !== name;
        const mark = document.getElementById("step-mark-" + step);
        if (step === name) { mark.setAttribute("aria-current", "step"); } else { mark.removeAttribute("aria-current"); }
      });
      const title = document.querySelector("#step-" + name + " h2");
      if (title) title.focus();
    }

    function renderProblems(problems) {
      feedback.textContent = "";
      problems.forEach(function (text) {
        const item = document.createElement("li");
        item.textContent = text;
        feedback.appendChild(item);
      });
      if (!problems.length) {
        const item = document.createElement("li");
        item.className = "ok";
        item.textContent = "This password meets the rules.";
        feedback.appendChild(item);
      }
    }

    // Live feedback from the very validators the accept step runs, asked of the server.
    async function checkPassword() {
      const mine = ++checkSeq;
      if (!password.value) { feedback.textContent = ""; passwordOk = false; return; }
      const result = await postJson(invitePath + "/password-check", { token: token, password: password.value });
      if (mine !== checkSeq) return;
      if (!result.ok) {
        say("invite-status", linkProblem(result) || errorText(result));
        return;
      }
      passwordOk = result.data.ok;
      renderProblems(result.data.problems);
      checkMatch();
    }

    function checkMatch() {
      if (!password2.value) { feedback2.textContent = ""; return; }
      const same = password.value === password2.value;
      feedback2.textContent = same ? "The passwords match." : "The passwords differ.";
      feedback2.className = "feedback " + (same ? "ok" : "bad");
    }

    password.addEventListener("input", function () {
      window.clearTimeout(checkTimer);
      checkTimer = window.setTimeout(checkPassword, 250);
    });
    password2.addEventListener("input", checkMatch);

    function groupKey(key) {
      return key.replace(/(.{4})/g, "$1 ").trim();
    }

    acceptForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (password.value !== password2.value) {
        checkMatch();
        say("invite-status", "The two passwords differ.");
        password2.focus();
        return;
      }
      say("invite-status", "Saving…");
      const result = await postJson(invitePath + "/accept", { token: token, password: password.value });
      if (!result.ok) {
        const fields = result.data && result.data.error && result.data.error.fields;
        if (fields && fields.password) {
          renderProblems([].concat(fields.password));
          say("invite-status", "The password does not meet the rules yet.");
          password.focus();
        } else {
          say("invite-status", linkProblem(result) || errorText(result));
        }
        return;
      }
      password.value = "";
      password2.value = "";
      document.getElementById("qr").src = result.data.qr_svg;
      document.getElementById("manual-key").textContent = groupKey(result.data.manual_key);
      say("invite-status", "Password saved. Now add the account to your authenticator app.");
      // webauthn.js offers a security key where the facility accepts one.
      document.getElementById("step-device").dataset.secondFactor = result.data.second_factor;
      showStep("device");
    });

    document.getElementById("confirm-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const otp = document.getElementById("otp");
      const code = otp.value.replace(/\s+/g, "");
      if (!/^[0-9]{6}$/.test(code)) {
        say("invite-status", "Type the 6 digits your app shows.");
        otp.focus();
        return;
      }
      const result = await postJson(invitePath + "/confirm", { token: token, otp: code });
      otp.value = "";
      if (!result.ok) {
        say("invite-status", linkProblem(result) || errorText(result));
        otp.focus();
        return;
      }
      say("invite-status", "Enrolled as " + result.data.username + ".");
      showStep("done");
    });
  }
})();
