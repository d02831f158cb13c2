/* "Meldingen aanzetten": subscribe this device to Web Push.
 *
 * Markup (templates/me/_push_card.html):
 *         <section data-push-card> ... <button type="button" data-push-enable>Meldingen aanzetten</button>
 *         <p data-push-status aria-live="polite"></p> </section>
 * and <meta name="csrf-token" content="..."> in the page head.
 * Permission is asked ONLY inside the click handler (browsers block or punish asking on load).
 * The service worker is registered elsewhere (the PWA's own script); this waits for it.
 */
(function () {
  "use strict";

  var button = document.querySelector("[data-push-enable]");
  if (!button) { return; }
  var status = document.querySelector("[data-push-status]");

  function say(text) { if (status) { status.textContent = text; } }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function keyBytes(base64url) {
    var b64 = (base64url + "===".slice((base64url.length + 3) % 4))
      .replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function sameKey(subscription, key) {
    var current = subscription.options && subscription.options.applicationServerKey;
    if (!current) { return true; }
    current = new Uint8Array(current);
    if (current.length !== key.length) { return false; }
    for (var i = 0; i < key.length; i += 1) { if (current[i] !== key[i]) { return false; } }
    return true;
  }

  function isIos() {
    return /iPad|iPhone|iPod/.test(navigator.userAgent) ||
      (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  }

  function isStandalone() {
    return window.matchMedia("(display-mode: standalone)").matches ||
      navigator.standalone === true;
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) ||
      !("Notification" in window)) {
    // Safari on iPhone/iPad exposes Web Push only inside the app on the home screen
    // (iOS 16.4+): explain that there. Anywhere else without push, the card only distracts.
    var card = button.closest ? button.closest("[data-push-card]") : null;
    button.hidden = true;
    if (isIos() && !isStandalone()) {
      say("Meldingen werken op een iPhone of iPad alleen in de app op je beginscherm. Zet " +
          "HwC Inbox eerst op je beginscherm (Deel \u2192 Zet op beginscherm) en open het vandaar.");
    } else if (card) {
      card.hidden = true;
    } else {
      say("Deze browser kan geen meldingen ontvangen.");
    }
    return;
  }
  if (Notification.permission === "denied") {
    say("Meldingen zijn geblokkeerd. Zet ze aan in de instellingen van je browser.");
  }

  function subscribe(registration, key) {
    return registration.pushManager.getSubscription().then(function (existing) {
      if (existing && sameKey(existing, key)) { return existing; }
      var gone = existing ? existing.unsubscribe() : Promise.resolve();
      return gone.then(function () {
        return registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: key
        });
      });
    });
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    say("Even geduld\u2026");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Error("denied"); }
      return Promise.all([
        navigator.serviceWorker.ready,
        fetch("/push/key", { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) { throw new Error("server"); }
          return r.json();
        })
      ]);
    }).then(function (results) {
      return subscribe(results[0], keyBytes(results[1].key));
    }).then(function (subscription) {
      return fetch("/push/subscribe", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ subscription: subscription.toJSON() })
      });
    }).then(function (response) {
      if (!response.ok) { throw new Error("server"); }
      say("Meldingen staan aan op dit apparaat. Je krijgt een seintje als er iets voor je klaarstaat.");
    }).catch(function (err) {
      if (err && err.message === "denied") {
        say("Je hebt meldingen niet toegestaan. Dat kun je later alsnog doen in de instellingen van je browser.");
      } else {
        say("Het aanzetten van meldingen is niet gelukt. Probeer het straks nog eens.");
      }
    }).then(function () {
      button.disabled = false;
    });
  });
}());
