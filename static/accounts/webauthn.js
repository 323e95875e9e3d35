// Security keys and passkeys (WebAuthn) on the sign-in and invite pages. No inline script (CSP).
// The browser's own JSON forms of the options and credentials are used, so nothing is encoded here.
"use strict";

(function () {
  const api = window.reviewsvcAccounts;
  if (!api || !window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) return;

  function keyError(error) {
    if (error && error.name === "NotAllowedError") return "The security key was not used (cancelled or timed out).";
    if (error && error.name === "InvalidStateError") return "This security key is registered already.";
    return "The security key could not be used here.";
  }

  // Sign-in: password and the key's assertion in one call, as with a code.
  const loginKey = document.getElementById("login-key");
  if (loginKey) {
    loginKey.addEventListener("click", async function () {
      const username = document.getElementById("username").value;
      const password = document.getElementById("password").value;
      if (!username || !password) {
        api.say("login-status", "Type your e-mail address and password first.");
        return;
      }
      api.say("login-status", "Touch your security key…");
      const options = await api.postJson("/api/v1/auth/webauthn/options", { username: username });
      if (!options.ok) { api.say("login-status", api.errorText(options)); return; }
      let credential;
      try {
        credential = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.data),
        });
      } catch (error) {
        api.say("login-status", keyError(error));
        return;
      }
      const result = await api.postJson("/api/v1/auth/login", {
        username: username, password: password, webauthn: credential.toJSON(),
      });
      if (result.ok) {
        api.say("login-status", "Signed in.");
        window.location.assign(result.data.role === "reviewer" ? "/review/" : "/admin/");
      } else {
        api.say("login-status", api.errorText(result));
      }
    });
  }

  // Enrolment: offered once the password is set, where the facility accepts keys.
  const device = document.getElementById("step-device");
  const registerKey = document.getElementById("register-key");
  if (!device || !registerKey) return;

  function inviteToken() {
    if (window.location.hash.length > 1) return decodeURIComponent(window.location.hash.slice(1));
    const parts = window.location.pathname.split("/").filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] || "");
  }

  new MutationObserver(function () {
    const factor = device.dataset.secondFactor;
    document.getElementById("key-enrol").hidden = factor === "totp";
    if (factor === "webauthn") {
      document.getElementById("totp-enrol").hidden = true;
      document.getElementById("device-title").textContent = "2. Register your security key";
      document.getElementById("key-enrol-hint").textContent =
        "Your facility signs in with security keys. Press the button, then touch the key when it blinks.";
    }
  }).observe(device, { attributes: true, attributeFilter: ["data-second-factor"] });

  registerKey.addEventListener("click", async function () {
    const token = inviteToken();
    api.say("invite-status", "Touch your security key…");
    const options = await api.postJson("/api/v1/invites/webauthn/options", { token: token });
    if (!options.ok) { api.say("invite-status", api.errorText(options)); return; }
    let credential;
    try {
      credential = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.data),
      });
    } catch (error) {
      api.say("invite-status", keyError(error));
      return;
    }
    const result = await api.postJson("/api/v1/invites/webauthn/register", {
      token: token, credential: credential.toJSON(),
    });
    if (!result.ok) { api.say("invite-status", api.errorText(result)); return; }
    api.say("invite-status", "Enrolled as " + result.data.username + " with a security key.");
    document.getElementById("step-device").hidden = true;
    document.getElementById("step-done").hidden = false;
    document.getElementById("done-title").focus();
  });
})();
