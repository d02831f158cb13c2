/* HwC Inbox: opening what is sealed to this phone, and sealing a teacher's note (ADR 0013).
 *
 * The phone's passkey answers the WebAuthn PRF question (passkey.js asks it); from that answer
 * this file derives the phone's X25519 key pair. The private key and the PRF output live only
 * in this page's memory: never in the browser's persistent storage, a cookie or the service worker's
 * cache, and never in a request. Only the public key goes to the server.
 *
 * Sealing is HPKE-style and mirrors server/device_seal.py: ephemeral X25519 + ECDH, HKDF-SHA256
 * (salt = ephemeral public ‖ recipient public), AES-256-GCM with the signal id as associated data.
 *
 * Wiring (all by data-* attributes):
 *   <button data-passkey="assert" data-sealed-form="form-id">  passkey.js asks for the passkey,
 *       then calls HwCPhone.submitSealed(form, phone): the form is posted with fetch, the answer
 *       replaces this page, and any [data-sealed] in it is opened here.
 *   <form data-note-form data-keys-url data-handover-url>  the teacher's note: made here when the
 *       hand-over is on this phone (sealed to the teacher's phones, or the one line).
 */
(() => {
  "use strict";

  const {b64urlToBytes, bytesToB64url, csrfToken} = window.HwC;
  const enc = new TextEncoder();
  const subtle = window.crypto && window.crypto.subtle;
  // The PKCS#8 wrapping of a raw X25519 private key (RFC 8410): a fixed 16-byte prefix.
  const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e,
    0x04, 0x22, 0x04, 0x20];

  let phone = null;     // {privateKey, publicKey (bytes), publicB64} of this page's last passkey
  let revealed = null;  // the child, as JSON text, while the reveal page is open (memory only)

  const hkdf = async (ikm, salt, info) => {
    const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
    return new Uint8Array(await subtle.deriveBits(
      {name: "HKDF", hash: "SHA-256", salt, info: enc.encode(info)}, key, 256));
  };

  const concat = (a, b) => { const out = new Uint8Array(a.length + b.length); out.set(a); out.set(b, a.length); return out; };

  /** The phone's key pair from its PRF output (server/device_seal.device_private_key). */
  const fromPrf = async (prfOutput) => {
    const raw = await hkdf(new Uint8Array(prfOutput), new Uint8Array(0), "hwc-inbox/v1/device-key");
    const pkcs8 = concat(new Uint8Array(PKCS8_X25519), raw);
    const extractable = await subtle.importKey("pkcs8", pkcs8, {name: "X25519"}, true, ["deriveBits"]);
    const publicKey = b64urlToBytes((await subtle.exportKey("jwk", extractable)).x);
    const privateKey = await subtle.importKey("pkcs8", pkcs8, {name: "X25519"}, false, ["deriveBits"]);
    raw.fill(0);
    pkcs8.fill(0);
    return {privateKey, publicKey, publicB64: bytesToB64url(publicKey)};
  };

  const aeadKey = async (shared, epk, recipient) => {
    if (shared.every((b) => b === 0)) { throw new Error("degenerate key"); }
    const bits = await hkdf(shared, concat(epk, recipient), "hwc-inbox/v1/device-seal");
    return subtle.importKey("raw", bits, "AES-GCM", false, ["encrypt", "decrypt"]);
  };

  const ecdh = async (privateKey, publicBytes) => {
    const pub = await subtle.importKey("raw", publicBytes, {name: "X25519"}, false, []);
    return new Uint8Array(await subtle.deriveBits({name: "X25519", public: pub}, privateKey, 256));
  };

  /** Open an entry sealed to this phone; returns the plaintext as text. */
  const open = async (entry, aad) => {
    if (!phone || entry.pub !== phone.publicB64) { throw new Error("not for this phone"); }
    const epk = b64urlToBytes(entry.epk);
    const key = await aeadKey(await ecdh(phone.privateKey, epk), epk, phone.publicKey);
    const plain = await subtle.decrypt({name: "AES-GCM", iv: b64urlToBytes(entry.nonce),
      additionalData: enc.encode(aad)}, key, b64urlToBytes(entry.ct));
    return new TextDecoder().decode(plain);
  };

  /** Seal text to one phone's public key (base64url): an entry for the server to keep. */
  const sealTo = async (recipientB64, text, aad) => {
    const recipient = b64urlToBytes(recipientB64);
    const eph = await subtle.generateKey({name: "X25519"}, true, ["deriveBits"]);
    const epk = new Uint8Array(await subtle.exportKey("raw", eph.publicKey));
    const key = await aeadKey(await ecdh(eph.privateKey, recipient), epk, recipient);
    const nonce = window.crypto.getRandomValues(new Uint8Array(12));
    const ct = await subtle.encrypt({name: "AES-GCM", iv: nonce, additionalData: enc.encode(aad)},
      key, enc.encode(text));
    return {pub: recipientB64, epk: bytesToB64url(epk), nonce: bytesToB64url(nonce), ct: bytesToB64url(ct)};
  };

  const longDate = (iso) => new Intl.DateTimeFormat("nl-NL", {day: "numeric", month: "long",
    year: "numeric", timeZone: "UTC"}).format(new Date(`${iso}T00:00:00Z`));

  /** Fill a page's [data-sealed] card with what only this phone can read. */
  const openCards = async (root) => {
    const cards = root.querySelectorAll("[data-sealed]");
    for (const card of cards) {
      const say = card.querySelector('[data-slot="status"]');
      try {
        const child = JSON.parse(await open(JSON.parse(card.dataset.sealed), card.dataset.aad));
        const born = `geboren ${longDate(child.birth_date)}`;
        const slots = {name: child.name, birth: born, line: `Handle with Care: ${child.name}, ${born}`};
        card.querySelectorAll("[data-slot]").forEach((el) => {
          if (slots[el.dataset.slot] !== undefined) { el.textContent = slots[el.dataset.slot]; }
        });
        if (card.hasAttribute("data-keep")) { revealed = JSON.stringify(child); }
        if (say) { say.remove(); }
      } catch (err) {
        if (say) {
          say.textContent = "Dit kon op dit apparaat niet worden geopend. Vraag een collega met "
            + "toegang het signaal te bekijken, of neem contact op met de gemeente.";
          say.classList.add("error");
        }
      }
    }
  };

  const loadedScripts = () => new Set(Array.from(document.scripts).map((s) => s.src));

  /** Replace this page by the HTML answer of a POST, keeping this script (and its memory). */
  const showPage = async (html, url) => {
    const doc = new DOMParser().parseFromString(html, "text/html");
    await openCards(doc);
    document.title = doc.title;
    const have = loadedScripts();
    const wanted = Array.from(doc.querySelectorAll("script[src]"), (s) => s.src);
    document.body.replaceWith(document.adoptNode(doc.body));
    wanted.forEach((src) => {
      if (!have.has(src)) {
        const el = document.createElement("script");
        el.src = src;
        document.body.appendChild(el);
      }
    });
    // The address of the answer: a reload or Back asks the server (GET), which never shows it.
    if (url) { window.history.replaceState(null, "", url); }
    wireNoteForms(document);
    const heading = document.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  };

  /** After passkey.js's step-up: post the form by fetch, so this page's memory holds the key
   * that opens the answer. `phone` names the key to the server (proved_phone). */
  const submitSealed = async (form, derived) => {
    phone = derived || null;
    const body = new URLSearchParams(new FormData(form));
    if (phone) { body.set("phone", phone.publicB64); }
    const resp = await fetch(form.action, {method: "POST", credentials: "same-origin", body,
      headers: {"X-CSRFToken": csrfToken()}});
    // Sent elsewhere (logged out, a new passkey check): go there as a page of its own.
    if (resp.redirected) { window.location.assign(resp.url); return; }
    await showPage(await resp.text(), resp.url);
  };

  // --- the teacher's note, made here when the hand-over is on this phone --------------------

  const getJSON = async (url, init) => {
    const resp = await fetch(url, Object.assign({credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/json",
        "X-CSRFToken": csrfToken()}}, init || {}));
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { throw new Error(data.error || "Dat lukte niet. Probeer het opnieuw."); }
    return data;
  };

  const noteStatus = (form, text) => {
    const el = form.querySelector("[data-note-status]");
    if (el) { el.textContent = text; el.classList.add("error"); }
  };

  const childForNote = async (form) => {
    if (revealed) { return revealed; }
    // On the case page: the passkey of the phone that opened the signal opens its hand-over.
    const derived = await window.HwCPasskey.stepUp(form.dataset.stepUpOptionsUrl,
      form.dataset.stepUpVerifyUrl);
    if (!derived) { throw new Error("Deze telefoon kan dat niet openen. Vertel het de leerkracht zelf."); }
    phone = derived;
    const data = await getJSON(form.dataset.handoverUrl, {method: "POST",
      body: JSON.stringify({phone: phone.publicB64})});
    return open(data.entry, data.aad);
  };

  const makeNote = async (form) => {
    const picked = form.querySelector('input[name="teacher_id"]:checked');
    if (!picked) { form.reportValidity(); return; }
    const url = new URL(form.dataset.keysUrl, window.location.href);
    url.searchParams.set("teacher_id", picked.value);
    const info = await getJSON(url.toString());
    if (info.on_phone) {
      const text = await childForNote(form);
      if (info.keys.length) {
        const entries = [];
        for (const key of info.keys) { entries.push(await sealTo(key, text, info.aad)); }
        form.elements.note_sealed.value = JSON.stringify(entries);
      } else {
        form.elements.note_line.value = text;  // a teacher without such a phone: ADR 0013
      }
    }
    form.submit();
  };

  function wireNoteForms(root) {
    root.querySelectorAll("form[data-note-form]").forEach((form) => {
      if (form.dataset.wired) { return; }
      form.dataset.wired = "1";
      form.addEventListener("submit", (ev) => {
        if (form.dataset.sending) { return; }
        ev.preventDefault();
        form.dataset.sending = "1";
        makeNote(form).catch((err) => {
          noteStatus(form, (err && err.message) || "Dat lukte niet. Probeer het opnieuw.");
        }).then(() => { delete form.dataset.sending; });
      });
    });
  }

  // Not every browser with PRF has X25519 in WebCrypto (Chrome < 133): asked once, at load, so
  // a passkey check there simply does not ask the PRF question (the server keeps its copy).
  let x25519 = false;
  if (subtle) {
    subtle.generateKey({name: "X25519"}, false, ["deriveBits"])
      .then(() => { x25519 = true; }, () => { x25519 = false; });
  }
  window.addEventListener("pagehide", () => { phone = null; revealed = null; });

  window.HwCPhone = Object.freeze({
    available: () => x25519,
    fromPrf, sealTo, submitSealed,
    remember: (derived) => { phone = derived; }
  });

  wireNoteForms(document);
  openCards(document);
})();
