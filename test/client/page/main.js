// A small chat page over nself-plugins/react, driven by test/client/browser.test.ts. Settings come from the URL:
// ?graphql=<url>&token=<jwt>&user=<id>&room=<room id>. (Plain JavaScript: the project's typecheck has no DOM library.)
import { createElement as h, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createCallConnection, createNselfClient, refreshingToken } from '../../../src/client/index.ts';
import { NselfProvider, useFileUpload, useNotifications, usePresence, useRealtime, useTyping } from '../../../src/react/index.ts';

const params = new URLSearchParams(location.search);
const user = params.get('user');
const room = params.get('room') ?? 'channel:lobby';
const client = createNselfClient({
  url: params.get('graphql'),
  auth: refreshingToken({ token: params.get('token'), refresh: async () => (await fetch(`/token?user=${encodeURIComponent(user)}`)).text() }),
});

function Chat() {
  const { joinRoom, sendTyping, setStatus } = useRealtime();
  const [joined, setJoined] = useState(false);
  useEffect(() => void joinRoom(room).then(() => setJoined(true)), [joinRoom]);
  const typing = useTyping(joined ? room : null);
  const presence = usePresence(joined ? room : null, { heartbeat: true });
  return h('section', { id: 'chat', 'data-joined': String(joined) },
    h('input', { id: 'message', placeholder: 'Say something', onInput: () => void sendTyping(room) }),
    h('p', { id: 'typing' }, typing.length ? `${typing.map((t) => t.user_id).join(', ')} typing…` : ''),
    h('ul', { id: 'presence' }, presence.map((p) => h('li', { key: p.user_id, 'data-user': p.user_id, 'data-status': p.status }, `${p.user_id}: ${p.status}`))),
    h('button', { id: 'dnd', onClick: () => void setStatus({ status: 'dnd' }) }, 'Do not disturb'),
  );
}

function Upload() {
  const { upload, uploadProgress, cancel, state, error, result, file, downloadUrl } = useFileUpload({ maxSize: '100MB', accept: 'image/*,video/*,application/pdf' });
  const [thumb, setThumb] = useState(null);
  const [max, setMax] = useState(0);
  useEffect(() => setMax((m) => Math.max(m, uploadProgress)), [uploadProgress]);
  useEffect(() => {
    if (state === 'ready' && result) downloadUrl(result.id, { variant: 'thumbnail' }).then((d) => setThumb(d.url));
  }, [state, result, downloadUrl]);
  return h('section', { id: 'upload' },
    h('input', { id: 'file', type: 'file', onChange: (e) => e.target.files[0] && void upload(e.target.files[0]) }),
    h('progress', { id: 'progress', max: 1, value: uploadProgress, 'data-max': String(max) }),
    h('button', { id: 'cancel', onClick: cancel }, 'Cancel'),
    h('p', { id: 'state', 'data-file-id': result?.id ?? '' }, state),
    h('p', { id: 'file-status' }, file?.status ?? ''),
    h('p', { id: 'upload-error' }, error ? `${error.code}: ${error.message}` : ''),
    thumb ? h('img', { id: 'thumb', src: thumb, alt: 'thumbnail' }) : null,
  );
}

// Chromium subscribes through its vendor's push service, which this machine cannot reach: the test's push service
// (the site's /push-subscription) hands out the subscription for the application server key instead.
const testPushManager = {
  getSubscription: async () => null,
  subscribe: async ({ applicationServerKey }) => {
    const res = await fetch('/push-subscription', { method: 'POST', body: applicationServerKey });
    if (!res.ok) throw new Error(`push service: ${res.status} ${await res.text()}`);
    const sub = await res.json();
    return { toJSON: () => sub, unsubscribe: async () => true };
  },
};

function Push({ registerWebPush }) {
  const [state, setState] = useState('');
  const [received, setReceived] = useState('');
  useEffect(() => {
    const onMessage = (e) => e.data?.push && setReceived(e.data.push.title);
    navigator.serviceWorker.addEventListener('message', onMessage);
    return () => navigator.serviceWorker.removeEventListener('message', onMessage);
  }, []);
  const register = async () => {
    await navigator.serviceWorker.register('/sw.js');
    await registerWebPush({ registration: { pushManager: testPushManager }, deviceId: 'browser-test' });
    setState('registered');
  };
  return h('section', { id: 'push' },
    h('button', { id: 'push-register', onClick: () => void register().catch((e) => setState(`error: ${e.code ?? ''} ${e.message}`)) }, 'Enable push'),
    h('p', { id: 'push-state' }, state),
    h('p', { id: 'push-received' }, received),
  );
}

function Inbox() {
  const { notifications, unreadCount, markAsRead, loading, registerWebPush } = useNotifications();
  return h('section', { id: 'inbox', 'data-loading': String(loading) },
    h(Push, { registerWebPush }),
    h('p', { id: 'unread' }, String(unreadCount)),
    h('ul', { id: 'notifications' }, notifications.map((n) =>
      h('li', { key: n.id, 'data-id': n.id, 'data-read': String(n.read_at !== null) },
        h('span', { className: 'title' }, n.title),
        h('button', { className: 'mark', onClick: () => void markAsRead(n.id) }, 'Mark read'),
      ),
    )),
  );
}

function Call() {
  const { calls } = useRealtime();
  const [state, setState] = useState('');
  const [message, setMessage] = useState('');
  // Callee: answer the first ringing call and take the caller's data channel.
  useEffect(() => {
    let conn;
    const seen = new Set();
    const stop = calls.onIncoming(user, (incoming) => {
      for (const i of incoming) {
        if (seen.has(i.call_id)) continue;
        seen.add(i.call_id);
        void (async () => {
          await calls.answer(i.call_id);
          conn = await createCallConnection({ calls }, { callId: i.call_id, peerId: i.call.initiator_id, role: 'callee', onError: (e) => setState(`error: ${e.message ?? e}`) });
          setState('answered');
          conn.pc.ondatachannel = (e) => (e.channel.onmessage = (m) => setMessage(String(m.data)));
        })();
      }
    });
    return () => {
      stop();
      void conn?.close();
    };
  }, [calls]);
  const call = async () => {
    const peer = document.getElementById('peer').value;
    const started = await calls.start('audio', { userIds: [peer] });
    const conn = await createCallConnection({ calls }, { callId: started.id, peerId: peer, role: 'caller', onError: (e) => setState(`error: ${e.message ?? e}`) });
    const channel = conn.pc.createDataChannel('chat');
    channel.onopen = () => {
      setState('open');
      channel.send(`hello over webrtc from ${user}`);
    };
    setState('calling');
  };
  return h('section', { id: 'call' },
    h('input', { id: 'peer', placeholder: 'user id' }),
    h('button', { id: 'start-call', onClick: () => void call().catch((e) => setState(`error: ${e.message}`)) }, 'Call'),
    h('p', { id: 'call-state' }, state),
    h('p', { id: 'rtc-message' }, message),
  );
}

function App() {
  const [conn, setConn] = useState('idle');
  useEffect(() => client.onConnectionChange(setConn), []);
  return h(NselfProvider, { client, userId: user },
    h('p', { id: 'connection' }, conn),
    h(Chat), h(Upload), h(Inbox), h(Call),
  );
}

createRoot(document.getElementById('root')).render(h(App));
