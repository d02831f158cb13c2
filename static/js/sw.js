/* HwC Inbox service worker, served from /sw.js (root scope) by server/pwa.py.
 *
 * Privacy rule: only an explicit allow-list of app-shell URLs (CSS, JS, icons, manifest, the
 * offline page and the public tips pages) is ever put in Cache Storage. Every other request —
 * inbox, signals, notes, admin, login, API — goes to the network with cache "no-store" and is
 * never stored anywhere by this worker. A navigation that fails offline gets the cached offline
 * page instead.
 *
 * The two placeholders below are filled in by the server when it serves this file: the version
 * is a hash of the shell files, so any change to them installs a new worker and a fresh cache.
 */
"use strict";

const CACHE_PREFIX = "hwc-shell-";
const CACHE_NAME = CACHE_PREFIX + "__HWC_CACHE_VERSION__";
const SHELL_URLS = "__HWC_SHELL_URLS__";  // replaced by a JSON array of same-origin paths
const OFFLINE_URL = "/offline";
const SHELL = new Set(SHELL_URLS);

const DEFAULT_TITLE = "HwC Inbox";
const DEFAULT_BODY = "Er staat een nieuw bericht voor je klaar.";
const DEFAULT_URL = "/inbox";

// The shell is fetched without cookies, so a cached page can never hold anything of a session.
function shellRequest(path, cacheMode) {
  return new Request(path, {cache: cacheMode, credentials: "omit", redirect: "error"});
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE_NAME);
    await Promise.all(SHELL_URLS.map(async (path) => {
      const response = await fetch(shellRequest(path, "reload"));
      if (!response.ok) {
        throw new Error("shell file not available: " + path);
      }
      await cache.put(path, response);
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    // Only this worker uses Cache Storage on this origin: anything not the current shell goes.
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name !== CACHE_NAME)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

async function fromShell(path) {
  const cache = await caches.open(CACHE_NAME);
  const hit = await cache.match(path);
  if (hit) {
    return hit;
  }
  // Evicted or not yet installed: fetch it again; it is on the allow-list, so it may be kept.
  const response = await fetch(shellRequest(path, "no-store"));
  if (response.ok && response.type === "basic") {
    await cache.put(path, response.clone());
  }
  return response;
}

async function networkOnly(request) {
  try {
    if (request.method === "GET" || request.method === "HEAD") {
      return await fetch(request, {cache: "no-store"});
    }
    return await fetch(request);  // POST and friends are never cached by the browser either
  } catch (err) {
    if (request.mode === "navigate" && request.method !== "GET") {
      // Back to a one-time page (the reveal is a POST answer, never stored): the browser may
      // only replay it from a cache, which fails. That is not 'offline' - send it to the same
      // address as a GET, which says calmly that the signal was already opened.
      return Response.redirect(request.url, 303);
    }
    if (request.mode === "navigate") {
      const offline = await caches.match(OFFLINE_URL, {cacheName: CACHE_NAME});
      if (offline) {
        return offline;
      }
    }
    return Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;  // not ours (and CSP forbids it anyway)
  }
  if (request.method === "GET" && url.search === "" && SHELL.has(url.pathname)) {
    event.respondWith(fromShell(url.pathname));
    return;
  }
  event.respondWith(networkOnly(request));
});

// ---- Web Push ---------------------------------------------------------------------------------

/* Only a same-origin path is ever opened; anything else falls back to the inbox. */
function safePath(value) {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")
      || value.startsWith("/\\")) {
    return DEFAULT_URL;
  }
  try {
    const url = new URL(value, self.location.origin);
    if (url.origin !== self.location.origin) {
      return DEFAULT_URL;
    }
    return url.pathname + url.search + url.hash;
  } catch (err) {
    return DEFAULT_URL;
  }
}

function shortText(value, fallback, max) {
  if (typeof value !== "string" || value.trim() === "") {
    return fallback;
  }
  return value.trim().slice(0, max);
}

self.addEventListener("push", (event) => {
  // The payload may carry title, body and url — nothing else is read.
  let payload = {};
  if (event.data) {
    try {
      const parsed = event.data.json();
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        payload = parsed;
      }
    } catch (err) {
      payload = {};
    }
  }
  const title = shortText(payload.title, DEFAULT_TITLE, 60);
  const options = {
    body: shortText(payload.body, DEFAULT_BODY, 160),
    icon: "/static/icons/icon-192.png",
    lang: "nl-NL",
    dir: "ltr",
    tag: "hwc-inbox",
    renotify: true,
    data: {url: safePath(payload.url)},
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const target = new URL(safePath(data.url), self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: "window", includeUncontrolled: true});
    for (const client of windows) {
      if (client.url === target && "focus" in client) {
        return client.focus();
      }
    }
    // Never navigate an open window away: someone may be halfway through a note.
    return self.clients.openWindow(target);
  })());
});
