// Passkey ceremonies for HwC Inbox: register (invite, extra passkey), log in, step up.
// Small and framework-free. Buttons declare what they do with data-* attributes:
//   data-passkey="register" data-options-url data-verify-url [data-name-input]
//   data-passkey="login"    data-options-url data-verify-url [data-next]
//   data-passkey="assert"   data-options-url data-verify-url [data-next]   (step-up)
// Every POST carries the CSRF token from <meta name="csrf-token">.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.status === 401 && data.step_up_url) { window.location.assign(data.step_up_url); }
        if (!resp.ok) { throw new Error(data.error || "Dat lukte niet. Probeer het opnieuw."); }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: b64urlToBuf(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = b64urlToBuf(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  function attestationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        attestationObject: bufToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }

  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        authenticatorData: bufToB64url(r.authenticatorData),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : undefined
      }
    };
  }

  function status(text, isError) {
    var el = document.querySelector("[data-passkey-status]");
    if (!el) { return; }
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  function friendly(err) {
    if (err && err.name === "NotAllowedError") {
      return "Geannuleerd of niet gelukt. Probeer het opnieuw.";
    }
    if (err && err.name === "InvalidStateError") {
      return "Deze passkey staat al op dit apparaat.";
    }
    return (err && err.message) || "Dat lukte niet. Probeer het opnieuw.";
  }

  var conditional = null; // AbortController of a pending autofill request

  function register(btn) {
    var nameInput = btn.dataset.nameInput ? document.getElementById(btn.dataset.nameInput) : null;
    status("Even geduld…");
    return postJSON(btn.dataset.optionsUrl).then(function (opts) {
      return navigator.credentials.create({ publicKey: creationOptions(opts) });
    }).then(function (cred) {
      return postJSON(btn.dataset.verifyUrl, {
        credential: attestationJSON(cred), name: nameInput ? nameInput.value : ""
      });
    }).then(function (data) {
      status("Gelukt.");
      window.location.assign(data.redirect || "/");
    });
  }

  function assert(btn, mediation) {
    if (conditional && !mediation) { conditional.abort(); conditional = null; }
    if (!mediation) { status("Even geduld…"); }
    var ctrl = null;
    return postJSON(btn.dataset.optionsUrl).then(function (opts) {
      var req = { publicKey: requestOptions(opts) };
      if (mediation) {
        ctrl = new AbortController();
        conditional = ctrl;
        req.mediation = mediation;
        req.signal = ctrl.signal;
      }
      return navigator.credentials.get(req);
    }).then(function (cred) {
      if (!cred) { return null; }
      if (ctrl && conditional === ctrl) { conditional = null; }
      return postJSON(btn.dataset.verifyUrl, {
        credential: assertionJSON(cred), next: btn.dataset.next || ""
      }).then(function (data) {
        status("Gelukt.");
        // A step-up in front of a form (data-then-submit="form-id"): send that form now, so the
        // person does not have to press its button a second time.
        var form = btn.dataset.thenSubmit && document.getElementById(btn.dataset.thenSubmit);
        if (form) { form.submit(); return; }
        window.location.assign(data.redirect || "/");
      });
    });
  }

  function wire(btn) {
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (!window.PublicKeyCredential) {
        status("Deze browser kan geen passkeys gebruiken. Probeer een nieuwere browser.", true);
        return;
      }
      btn.disabled = true;
      var kind = btn.dataset.passkey;
      var run = kind === "register" ? register(btn) : assert(btn, null);
      run.catch(function (err) {
        if (err && err.name === "AbortError") { return; }
        status(friendly(err), true);
      }).then(function () { btn.disabled = false; });
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(wire);

  // Passkey autofill (conditional mediation) on the login page, where the browser supports it.
  var loginBtn = document.querySelector('[data-passkey="login"]');
  if (loginBtn && document.querySelector('input[autocomplete~="webauthn"]') &&
      window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (ok) {
        assert(loginBtn, "conditional").catch(function (err) {
          if (err && err.name !== "AbortError") { status(friendly(err), true); }
        });
      }
    });
  }
})();
