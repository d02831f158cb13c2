/* HwC Inbox: registers the service worker and drives the install hint (templates/pwa/install_hint.html).
 * Loaded with `defer` from base.html; no inline script anywhere (CSP script-src 'self'). */
(function () {
  "use strict";

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", {scope: "/", updateViaCache: "none"})
        .catch(function () { /* the app works without it, only not offline */ });
    });
  }

  var hint = document.getElementById("install-hint");
  if (!hint) {
    return;
  }
  // Only "dismissed for this tab" is remembered, and only in sessionStorage.
  var DISMISS_KEY = "hwc-install-hint";
  var deferredPrompt = null;

  function isStandalone() {
    return window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  }

  function isIos() {
    return /iPad|iPhone|iPod/.test(navigator.userAgent)
      || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  }

  function dismissed() {
    try {
      return window.sessionStorage.getItem(DISMISS_KEY) === "dismissed";
    } catch (err) {
      return false;
    }
  }

  function show(variant) {
    var parts = hint.querySelectorAll("[data-install-variant]");
    for (var i = 0; i < parts.length; i++) {
      parts[i].hidden = parts[i].getAttribute("data-install-variant") !== variant;
    }
    hint.querySelector("[data-install-action='install']").hidden = variant !== "prompt";
    hint.hidden = false;
  }

  function hide() {
    hint.hidden = true;
  }

  if (isStandalone() || dismissed()) {
    return;
  }

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
    show("prompt");
  });
  window.addEventListener("appinstalled", hide);

  if (isIos()) {
    show("ios");
  }

  hint.addEventListener("click", function (event) {
    var action = event.target.getAttribute("data-install-action");
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
(function () {
  "use strict";
  var once = document.querySelector("[data-view-once]");
  if (!once) {
    return;
  }
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("[data-view-once]").forEach(function (el) {
      el.textContent = "";
    });
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.replace(once.getAttribute("data-view-once") || "/");
    }
  });
})();
