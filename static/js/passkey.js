/* Passkey ceremonies for HwC Inbox: register (invite, extra passkey), log in, step up.
 * Small and framework-free. Buttons declare what they do with data-* attributes:
 *   data-passkey="register" data-options-url data-verify-url [data-name-input]
 *   data-passkey="login"    data-options-url data-verify-url [data-next]
 *   data-passkey="assert"   data-options-url data-verify-url [data-next] [data-then-submit]  (step-up)
 * Every POST carries the CSRF token from <meta name="csrf-token"> (window.HwC, common.js).
 */
(() => {
  "use strict";

  const {csrfToken, b64urlToBytes, bytesToB64url} = window.HwC;
  const b64urlToBuf = (text) => b64urlToBytes(text).buffer;

  const postJSON = async (url, body) => {
    const resp = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body || {})
    });
    const data = await resp.json().catch(() => ({}));
    if (resp.status === 401 && data.step_up_url) { window.location.assign(data.step_up_url); }
    if (!resp.ok) { throw new Error(data.error || "Dat lukte niet. Probeer het opnieuw."); }
    return data;
  };

  const descriptors = (list) => (list || []).map((d) => (
    {type: d.type, id: b64urlToBuf(d.id), transports: d.transports}));

  const creationOptions = (o) => {
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  };

  const requestOptions = (o) => {
    o.challenge = b64urlToBuf(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  };

  const attestationJSON = (cred) => {
    const r = cred.response;
    return {
      id: cred.id, rawId: bytesToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bytesToB64url(r.clientDataJSON),
        attestationObject: bytesToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  };

  const assertionJSON = (cred) => {
    const r = cred.response;
    return {
      id: cred.id, rawId: bytesToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bytesToB64url(r.clientDataJSON),
        authenticatorData: bytesToB64url(r.authenticatorData),
        signature: bytesToB64url(r.signature),
        userHandle: r.userHandle ? bytesToB64url(r.userHandle) : undefined
      }
    };
  };

  const status = (text, isError) => {
    const el = document.querySelector("[data-passkey-status]");
    if (!el) { return; }
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  };

  const friendly = (err) => {
    if (err && err.name === "NotAllowedError") {
      return "Geannuleerd of niet gelukt. Probeer het opnieuw.";
    }
    if (err && err.name === "InvalidStateError") {
      return "Deze passkey staat al op dit apparaat.";
    }
    return (err && err.message) || "Dat lukte niet. Probeer het opnieuw.";
  };

  let conditional = null; // AbortController of a pending autofill request

  const register = async (btn) => {
    const nameInput = btn.dataset.nameInput ? document.getElementById(btn.dataset.nameInput) : null;
    status("Even geduld…");
    const opts = await postJSON(btn.dataset.optionsUrl);
    const cred = await navigator.credentials.create({publicKey: creationOptions(opts)});
    const data = await postJSON(btn.dataset.verifyUrl, {
      credential: attestationJSON(cred), name: nameInput ? nameInput.value : ""
    });
    status("Gelukt.");
    window.location.assign(data.redirect || "/");
  };

  const assert = async (btn, mediation) => {
    if (conditional && !mediation) { conditional.abort(); conditional = null; }
    if (!mediation) { status("Even geduld…"); }
    let ctrl = null;
    const opts = await postJSON(btn.dataset.optionsUrl);
    const req = {publicKey: requestOptions(opts)};
    if (mediation) {
      ctrl = new AbortController();
      conditional = ctrl;
      req.mediation = mediation;
      req.signal = ctrl.signal;
    }
    const cred = await navigator.credentials.get(req);
    if (!cred) { return; }
    if (ctrl && conditional === ctrl) { conditional = null; }
    const data = await postJSON(btn.dataset.verifyUrl, {
      credential: assertionJSON(cred), next: btn.dataset.next || ""
    });
    status("Gelukt.");
    // A step-up in front of a form (data-then-submit="form-id"): send that form now, so the
    // person does not have to press its button a second time.
    const form = btn.dataset.thenSubmit && document.getElementById(btn.dataset.thenSubmit);
    if (form) { form.submit(); return; }
    window.location.assign(data.redirect || "/");
  };

  const wire = (btn) => {
    btn.addEventListener("click", (ev) => {
      ev.preventDefault();
      if (!window.PublicKeyCredential) {
        status("Deze browser kan geen passkeys gebruiken. Probeer een nieuwere browser.", true);
        return;
      }
      btn.disabled = true;
      const run = btn.dataset.passkey === "register" ? register(btn) : assert(btn, null);
      run.catch((err) => {
        if (err && err.name === "AbortError") { return; }
        status(friendly(err), true);
      }).then(() => { btn.disabled = false; });
    });
  };

  document.querySelectorAll("[data-passkey]").forEach(wire);

  // Passkey autofill (conditional mediation) on the login page, where the browser supports it.
  const loginBtn = document.querySelector('[data-passkey="login"]');
  if (loginBtn && document.querySelector('input[autocomplete~="webauthn"]') &&
      window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
      if (ok) {
        assert(loginBtn, "conditional").catch((err) => {
          if (err && err.name !== "AbortError") { status(friendly(err), true); }
        });
      }
    });
  }
})();
