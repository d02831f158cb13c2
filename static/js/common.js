/* HwC Inbox: the helpers the page scripts share, as one namespace, `window.HwC`.
 *
 * Loaded with `defer` from templates/base.html before every other script (deferred scripts run
 * in document order), so app.js, passkey.js and push.js can use it. It only defines HwC and does
 * nothing else. The service worker (sw.js) has no `window` and keeps its own helpers.
 */
(() => {
  "use strict";

  /** The CSRF token from <meta name="csrf-token">, for the X-CSRFToken header of a POST. */
  const csrfToken = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  /** An iPhone, iPod or iPad (an iPad says it is a Mac, but one with a touch screen). */
  const isIos = () => /iPad|iPhone|iPod/.test(navigator.userAgent)
    || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);

  /** Running as the installed app from the home screen, not in a browser tab. */
  const isStandalone = () => window.matchMedia("(display-mode: standalone)").matches
    || navigator.standalone === true;

  /** base64url (no padding needed) to bytes. */
  const b64urlToBytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const bin = window.atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i += 1) { out[i] = bin.charCodeAt(i); }
    return out;
  };

  /** Bytes (an ArrayBuffer or a typed array) to base64url without padding. */
  const bytesToB64url = (buf) => {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 1) { bin += String.fromCharCode(bytes[i]); }
    return window.btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  window.HwC = Object.freeze({csrfToken, isIos, isStandalone, b64urlToBytes, bytesToB64url});
})();
