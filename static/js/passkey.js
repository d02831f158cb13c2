/* Passkey ceremonies for HwC Inbox: register (invite, extra passkey), log in, step up.
 * Small and framework-free. Buttons declare what they do with data-* attributes:
 *   data-passkey="register" data-options-url data-verify-url [data-name-input]
 *   data-passkey="login"    data-options-url data-verify-url [data-next]
 *   data-passkey="assert"   data-options-url data-verify-url [data-next] [data-then-submit]  (step-up)
 *                           [data-sealed-form]  (post that form by fetch and open its answer here)
 * Every POST carries the CSRF token from <meta name="csrf-token"> (window.HwC, common.js).
 *
 * The PRF extension (ADR 0013): where the server's options ask for it, the passkey's PRF output
 * becomes this phone's key pair (sealed.js, loaded before this file); only the public key is
 * sent (`device_key`). The output itself is stripped from every credential sent to the server
 * and kept nowhere but this page's memory.
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

  const phoneApi = () => window.HwCPhone && window.HwCPhone.available() ? window.HwCPhone : null;

  const prfSalt = (o) => {
    const prf = o.extensions && o.extensions.prf;
    if (prf && prf.eval && typeof prf.eval.first === "string") {
      if (phoneApi()) { prf.eval.first = b64urlToBuf(prf.eval.first); } else { delete o.extensions.prf; }
    }
  };

  const creationOptions = (o) => {
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    prfSalt(o);
    return o;
  };

  const requestOptions = (o) => {
    o.challenge = b64urlToBuf(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    prfSalt(o);
    return o;
  };

  /** What the server may know of the extensions: never the PRF output (nor that it exists). */
  const publicExtensions = (cred) => {
    const all = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    const out = {};
    Object.keys(all).forEach((k) => { if (k !== "prf") { out[k] = all[k]; } });
    return out;
  };

  /** This ceremony's phone key: derived from the PRF output if the passkey gave one. Returns
   * {phone, fields} where fields go into the verify body (the public key, or prf: false). */
  const phoneOf = async (cred, asked) => {
    const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    const first = ext.prf && ext.prf.results && ext.prf.results.first;
    if (first && phoneApi()) {
      try {
        const phone = await phoneApi().fromPrf(first);
        return {phone, fields: {device_key: phone.publicB64}};
      } catch (err) {
        return {phone: null, fields: {}};  // the check itself still counts
      }
    }
    // Asked, and the passkey said it cannot (no PRF at all): the server stops asking at login.
    const cannot = asked && !first && !(ext.prf && ext.prf.enabled);
    return {phone: null, fields: cannot ? {prf: false} : {}};
  };

  const attestationJSON = (cred) => {
    const r = cred.response;
    return {
      id: cred.id, rawId: bytesToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: publicExtensions(cred),
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
      clientExtensionResults: publicExtensions(cred),
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
    const publicKey = creationOptions(await postJSON(btn.dataset.optionsUrl));
    const asked = !!(publicKey.extensions && publicKey.extensions.prf);
    const cred = await navigator.credentials.create({publicKey});
    const {fields} = await phoneOf(cred, asked);
    const data = await postJSON(btn.dataset.verifyUrl, Object.assign({
      credential: attestationJSON(cred), name: nameInput ? nameInput.value : ""
    }, fields));
    if (data.phone_key_needed) { await askPhoneKeyOnce(btn, data.csrf); }
    status("Gelukt.");
    window.location.assign(data.redirect || "/");
  };

  /** One step-up ceremony (options, passkey, verify), PRF included; returns this phone's key
   * pair or null. Used by the buttons below and by sealed.js (a note from the case page). */
  const stepUp = async (optionsUrl, verifyUrl, extra) => {
    const publicKey = requestOptions(await postJSON(optionsUrl));
    const asked = !!(publicKey.extensions && publicKey.extensions.prf);
    const cred = await navigator.credentials.get({publicKey});
    const {phone, fields} = await phoneOf(cred, asked);
    const data = await postJSON(verifyUrl, Object.assign({credential: assertionJSON(cred)},
      fields, extra || {}));
    return {phone, data};
  };

  /** After a login (which cannot ask the PRF question: the person was unknown) or a new passkey
   * that gave no PRF output yet: ask once for this phone's key when the server says it does not
   * know it. A refusal is no failure. */
  const askPhoneKeyOnce = async (btn, csrf) => {
    if (!btn.dataset.stepUpOptionsUrl || !phoneApi() || !csrf) { return; }
    // The login began a new session, with a new CSRF token (sent with the login's answer).
    let meta = document.querySelector('meta[name="csrf-token"]');
    if (!meta) {
      meta = document.createElement("meta");
      meta.setAttribute("name", "csrf-token");
      document.head.appendChild(meta);
    }
    meta.setAttribute("content", csrf);
    status("Nog één keer bevestigen: zo kan deze telefoon signalen openen die alleen hij kan lezen.");
    try {
      await stepUp(btn.dataset.stepUpOptionsUrl, btn.dataset.stepUpVerifyUrl);
    } catch (err) { /* the login itself succeeded; the next login asks again */ }
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
    const asked = !!(opts.extensions && opts.extensions.prf);
    const cred = await navigator.credentials.get(req);
    if (!cred) { return; }
    if (ctrl && conditional === ctrl) { conditional = null; }
    const {phone, fields} = await phoneOf(cred, asked);
    const data = await postJSON(btn.dataset.verifyUrl, Object.assign({
      credential: assertionJSON(cred), next: btn.dataset.next || ""
    }, fields));
    if (data.phone_key_needed) { await askPhoneKeyOnce(btn, data.csrf); }
    status("Gelukt.");
    // The view-once buttons: the answer is opened in this page, with this phone's key.
    const sealedForm = btn.dataset.sealedForm && document.getElementById(btn.dataset.sealedForm);
    if (sealedForm && phoneApi()) { await phoneApi().submitSealed(sealedForm, phone); return; }
    if (sealedForm) { sealedForm.submit(); return; }
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

  window.HwCPasskey = Object.freeze({
    /** A step-up for sealed.js (a note made on the case page); returns the phone key or null. */
    stepUp: async (optionsUrl, verifyUrl) => (await stepUp(optionsUrl, verifyUrl)).phone
  });

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
