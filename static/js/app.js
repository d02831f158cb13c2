/* HwC Inbox on every page: registers the service worker, drives the install hint
 * (templates/pwa/install_hint.html) and keeps view-once pages out of the back/forward cache.
 * Loaded with `defer` from templates/base.html, after common.js (window.HwC); no inline script
 * anywhere (CSP script-src 'self'). */

// ---- Service worker -----------------------------------------------------------------------------
(() => {
  "use strict";
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register("/sw.js", {scope: "/", updateViaCache: "none"})
        .catch(() => { /* the app works without it, only not offline */ });
    });
  }
})();

// ---- Install hint ------------------------------------------------------------------------------
(() => {
  "use strict";
  const hint = document.getElementById("install-hint");
  if (!hint) {
    return;
  }
  const {isIos, isStandalone} = window.HwC;
  // Only "dismissed for this tab" is remembered, and only in sessionStorage.
  const DISMISS_KEY = "hwc-install-hint";
  let deferredPrompt = null;

  const dismissed = () => {
    try {
      return window.sessionStorage.getItem(DISMISS_KEY) === "dismissed";
    } catch (err) {
      return false;
    }
  };

  const show = (variant) => {
    hint.querySelectorAll("[data-install-variant]").forEach((part) => {
      part.hidden = part.getAttribute("data-install-variant") !== variant;
    });
    hint.querySelector("[data-install-action='install']").hidden = variant !== "prompt";
    hint.hidden = false;
  };

  const hide = () => {
    hint.hidden = true;
  };

  if (isStandalone() || dismissed()) {
    return;
  }

  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    deferredPrompt = event;
    show("prompt");
  });
  window.addEventListener("appinstalled", hide);

  if (isIos()) {
    show("ios");
  }

  hint.addEventListener("click", (event) => {
    const action = event.target.getAttribute("data-install-action");
    if (action === "install" && deferredPrompt) {
      deferredPrompt.prompt();
      deferredPrompt.userChoice.then(hide, hide);
      deferredPrompt = null;
    } else if (action === "dismiss") {
      try {
        window.sessionStorage.setItem(DISMISS_KEY, "dismissed");
      } catch (err) { /* private mode: just hide */ }
      hide();
    }
  });
})();

// ---- View once means once: never from the back/forward cache --------------------------------
// A page that shows a child's name (marked data-view-once) is wiped when the person leaves it,
// and if the browser brings it back from its back/forward cache it is replaced by the list.
// `Cache-Control: no-store` keeps it out of the HTTP cache; this covers the in-memory one.
// Looked up when the page is left, not when it loads: a view opened in the page by sealed.js
// (ADR 0013) arrives after the load.
(() => {
  "use strict";
  window.addEventListener("pagehide", () => {
    document.querySelectorAll("[data-view-once]").forEach((el) => {
      el.textContent = "";
    });
  });
  window.addEventListener("pageshow", (event) => {
    const once = document.querySelector("[data-view-once]");
    if (event.persisted && once) {
      window.location.replace(once.getAttribute("data-view-once") || "/");
    }
  });
})();
