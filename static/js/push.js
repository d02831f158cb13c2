/* "Meldingen aanzetten": subscribe this device to Web Push.
 *
 * Markup (templates/me/_push_card.html):
 *         <section data-push-card> ... <button type="button" data-push-enable>Meldingen aanzetten</button>
 *         <p data-push-status aria-live="polite"></p> </section>
 * and <meta name="csrf-token" content="..."> in the page head (base.html, for a logged-in person).
 * Uses window.HwC from common.js, which base.html loads first.
 * Permission is asked ONLY inside the click handler (browsers block or punish asking on load).
 * The service worker is registered by static/js/app.js; this waits for it to be ready.
 */
(() => {
  "use strict";

  const button = document.querySelector("[data-push-enable]");
  if (!button) { return; }
  const {csrfToken, isIos, isStandalone, b64urlToBytes} = window.HwC;
  const status = document.querySelector("[data-push-status]");

  const say = (text) => { if (status) { status.textContent = text; } };

  const sameKey = (subscription, key) => {
    let current = subscription.options && subscription.options.applicationServerKey;
    if (!current) { return true; }
    current = new Uint8Array(current);
    if (current.length !== key.length) { return false; }
    for (let i = 0; i < key.length; i += 1) { if (current[i] !== key[i]) { return false; } }
    return true;
  };

  if (!("serviceWorker" in navigator) || !("PushManager" in window) ||
      !("Notification" in window)) {
    // Safari on iPhone/iPad exposes Web Push only inside the app on the home screen
    // (iOS 16.4+): explain that there. Anywhere else without push, the card only distracts.
    const card = button.closest ? button.closest("[data-push-card]") : null;
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

  const subscribe = async (registration, key) => {
    const existing = await registration.pushManager.getSubscription();
    if (existing && sameKey(existing, key)) { return existing; }
    if (existing) { await existing.unsubscribe(); }
    return registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
  };

  const serverKey = async () => {
    const response = await fetch("/push/key", {credentials: "same-origin"});
    if (!response.ok) { throw new Error("server"); }
    return (await response.json()).key;
  };

  const enable = async () => {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") { throw new Error("denied"); }
    const [registration, key] = await Promise.all([navigator.serviceWorker.ready, serverKey()]);
    const subscription = await subscribe(registration, b64urlToBytes(key));
    const response = await fetch("/push/subscribe", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify({subscription: subscription.toJSON()})
    });
    if (!response.ok) { throw new Error("server"); }
  };

  button.addEventListener("click", async () => {
    button.disabled = true;
    say("Even geduld\u2026");
    try {
      await enable();
      say("Meldingen staan aan op dit apparaat. Je krijgt een seintje als er iets voor je klaarstaat.");
    } catch (err) {
      if (err && err.message === "denied") {
        say("Je hebt meldingen niet toegestaan. Dat kun je later alsnog doen in de instellingen van je browser.");
      } else {
        say("Het aanzetten van meldingen is niet gelukt. Probeer het straks nog eens.");
      }
    }
    button.disabled = false;
  });
})();
