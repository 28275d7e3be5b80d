// The test page's service worker: a push is shown as a notification and handed to the open pages, so the test
// sees that it arrived here.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('push', (event) => {
  const payload = event.data ? event.data.json() : {};
  event.waitUntil(
    (async () => {
      await self.registration.showNotification(payload.title ?? 'Notification', { body: payload.body ?? '' }).catch(() => undefined);
      for (const client of await self.clients.matchAll({ includeUncontrolled: true, type: 'window' })) client.postMessage({ push: payload });
    })(),
  );
});
