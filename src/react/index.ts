/**
 * `nself-plugins/react`: `NselfProvider` and one hook per plugin over `nself-plugins/client`. Hooks open their
 * subscriptions in effects and close them on unmount; nothing touches a browser API at import, so pages render
 * on a server. Written with `createElement` so the package needs no JSX setup.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { NselfClient, Subscription } from '../client/core.js';
import { NselfError } from '../client/errors.js';
import { createRealtime, type PresenceEntry, type RealtimeOptions, type TypingUser } from '../client/realtime.js';
import { createFiles, type FileStatus, type FilesOptions, type UploadedFile, type UploadOptions } from '../client/files.js';
import { createNotifications, type Notification, type NotificationPreferences, type PreferencesUpdate } from '../client/notifications.js';
import { createJobs, type QueueStats } from '../client/jobs.js';
import { createSearch, type DebouncedSearch, type SearchParams, type SearchResults } from '../client/search.js';
import { createOAuth, PROVIDER_PARAM, type OAuth, type OAuthProvider, type OAuthSessionState, type StartOptions } from '../client/oauth.js';

interface NselfContext {
  client: NselfClient;
  /** The signed-in user's id (hooks leave the user out of their own typing indicator). */
  userId?: string;
}

const Context = createContext<NselfContext | null>(null);

export function NselfProvider(props: { client: NselfClient; userId?: string; children?: ReactNode }) {
  const value = useMemo<NselfContext>(() => ({ client: props.client, ...(props.userId !== undefined ? { userId: props.userId } : {}) }), [props.client, props.userId]);
  return createElement(Context.Provider, { value }, props.children);
}

export function useNself(): NselfContext {
  const ctx = useContext(Context);
  if (!ctx) throw new Error('nself-plugins/react: wrap the app in <NselfProvider client={…}>');
  return ctx;
}

/** Subscriptions opened through a hook's `on…` functions, closed when the component unmounts. */
function useOwnedSubscriptions() {
  const owned = useRef(new Set<Subscription>());
  useEffect(() => {
    const set = owned.current;
    return () => {
      for (const s of set) s();
      set.clear();
    };
  }, []);
  return useCallback(<A extends unknown[]>(open: (...args: A) => Subscription) => (...args: A): (() => void) => {
    const sub = open(...args);
    owned.current.add(sub);
    return () => {
      owned.current.delete(sub);
      sub();
    };
  }, []);
}

/** `const { sendTyping, onTyping, updatePresence, onPresenceChange, joinRoom, leaveRoom } = useRealtime()` */
export function useRealtime(options: Omit<RealtimeOptions, 'userId'> = {}) {
  const { client, userId } = useNself();
  const rt = useMemo(() => createRealtime(client, { ...options, ...(userId !== undefined ? { userId } : {}) }), [client, userId]); // eslint-disable-line react-hooks/exhaustive-deps
  const own = useOwnedSubscriptions();
  useEffect(() => () => void rt.dispose(), [rt]);
  return useMemo(
    () => ({
      sendTyping: rt.sendTyping,
      stopTyping: rt.stopTyping,
      onTyping: own(rt.onTyping),
      updatePresence: rt.updatePresence,
      startPresence: rt.startPresence,
      setStatus: rt.setStatus,
      onPresenceChange: own(rt.onPresenceChange),
      onUsersPresence: own(rt.onUsersPresence),
      joinRoom: rt.joinRoom,
      leaveRoom: rt.leaveRoom,
      onRoomMembers: own(rt.onRoomMembers),
      broadcast: rt.broadcast,
      onRoomEvents: own(rt.onRoomEvents),
      calls: rt.calls,
      deviceId: rt.deviceId,
    }),
    [rt, own],
  );
}

/** Who is typing in a room (yourself left out), kept current. */
export function useTyping(roomId: string | null | undefined): TypingUser[] {
  const { onTyping } = useRealtime();
  const [users, setUsers] = useState<TypingUser[]>([]);
  useEffect(() => {
    if (!roomId) return setUsers([]);
    return onTyping(roomId, setUsers);
  }, [roomId, onTyping]);
  return users;
}

/** Presence of a room's members, kept current; with `heartbeat`, this page keeps the user online while visible. */
export function usePresence(roomId: string | null | undefined, opts: { heartbeat?: boolean } = {}): PresenceEntry[] {
  const { onPresenceChange, startPresence } = useRealtime();
  const [entries, setEntries] = useState<PresenceEntry[]>([]);
  useEffect(() => {
    if (!roomId) return setEntries([]);
    return onPresenceChange(roomId, setEntries);
  }, [roomId, onPresenceChange]);
  useEffect(() => (opts.heartbeat && roomId ? startPresence({ roomId }) : undefined), [roomId, opts.heartbeat, startPresence]);
  return entries;
}

export type UploadState = 'idle' | 'uploading' | 'processing' | 'ready' | 'failed' | 'cancelled';

export interface FileUploadOptions extends Pick<UploadOptions, 'accept' | 'maxSize' | 'minSize' | 'bucket' | 'multipart'> {
  /** Follow the file through processing to `ready` (default true). */
  waitUntilReady?: boolean;
  files?: FilesOptions;
}

/** `const { upload, uploadProgress, cancel } = useFileUpload({ maxSize: '100MB', accept: 'image/*,video/*,application/pdf' })` */
export function useFileUpload(options: FileUploadOptions = {}) {
  const { client } = useNself();
  const files = useMemo(() => createFiles(client, options.files), [client]); // eslint-disable-line react-hooks/exhaustive-deps
  const [uploadProgress, setProgress] = useState(0);
  const [state, setState] = useState<UploadState>('idle');
  const [error, setError] = useState<NselfError | null>(null);
  const [result, setResult] = useState<UploadedFile | null>(null);
  const [file, setFile] = useState<FileStatus | null>(null);
  const controller = useRef<AbortController | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      controller.current?.abort();
    };
  }, []);
  const opts = useRef(options);
  opts.current = options;

  const upload = useCallback(
    async (blob: Blob & { name?: string }, extra: Omit<UploadOptions, 'signal' | 'onProgress'> = {}): Promise<UploadedFile | null> => {
      controller.current?.abort();
      const ac = new AbortController();
      controller.current = ac;
      const o = opts.current;
      const live = () => mounted.current && controller.current === ac;
      setError(null);
      setResult(null);
      setFile(null);
      setProgress(0);
      setState('uploading');
      try {
        const up = await files.upload(blob, {
          ...(o.accept !== undefined ? { accept: o.accept } : {}),
          ...(o.maxSize !== undefined ? { maxSize: o.maxSize } : {}),
          ...(o.minSize !== undefined ? { minSize: o.minSize } : {}),
          ...(o.bucket !== undefined ? { bucket: o.bucket } : {}),
          ...(o.multipart !== undefined ? { multipart: o.multipart } : {}),
          ...extra,
          signal: ac.signal,
          onProgress: (p) => live() && setProgress(p.total ? p.loaded / p.total : 1),
        });
        if (!live()) return up;
        setResult(up);
        if (o.waitUntilReady === false) {
          setState('ready');
          return up;
        }
        setState('processing');
        const done = await files.waitUntilReady(up.id, { signal: ac.signal, onStatus: (f) => live() && setFile(f) });
        if (live()) {
          setFile(done);
          setState('ready');
        }
        return up;
      } catch (e) {
        const err = e instanceof NselfError ? e : new NselfError(String((e as Error)?.message ?? e), 'network');
        if (live()) {
          setState(err.code === 'aborted' ? 'cancelled' : 'failed');
          setError(err.code === 'aborted' ? null : err);
        }
        return null;
      }
    },
    [files],
  );
  const cancel = useCallback(() => controller.current?.abort(), []);
  return { upload, uploadProgress, cancel, state, uploading: state === 'uploading', error, result, file, downloadUrl: files.downloadUrl };
}

/** `const { notifications, markAsRead, preferences, updatePreferences } = useNotifications()` */
export function useNotifications(options: { limit?: number; loadPreferences?: boolean } = {}) {
  const { client } = useNself();
  const api = useMemo(() => createNotifications(client), [client]);
  const [notifications, setNotifications] = useState<Notification[]>([]);
  const [unreadCount, setUnread] = useState(0);
  const [preferences, setPreferences] = useState<NotificationPreferences | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<NselfError | null>(null);
  const limit = options.limit ?? 30;
  useEffect(() => {
    const feed = api.onFeed(
      (items) => {
        setNotifications(items);
        setLoading(false);
      },
      { limit, onError: setError },
    );
    const badge = api.onUnreadCount(setUnread, setError);
    return () => {
      feed();
      badge();
    };
  }, [api, limit]);
  useEffect(() => {
    if (options.loadPreferences === false) return;
    let live = true;
    api.preferences().then((p) => live && setPreferences(p), (e: NselfError) => live && setError(e));
    return () => {
      live = false;
    };
  }, [api, options.loadPreferences]);
  const markAsRead = useCallback((ids: string | string[]) => api.markRead(Array.isArray(ids) ? ids : [ids]), [api]);
  const markAllAsRead = useCallback((category?: string) => api.markAllRead(category), [api]);
  const updatePreferences = useCallback(
    async (update: PreferencesUpdate) => {
      const p = await api.updatePreferences(update);
      setPreferences(p);
      return p;
    },
    [api],
  );
  return { notifications, unreadCount, markAsRead, markAllAsRead, archive: api.archive, markSeen: api.markSeen, preferences, updatePreferences, registerWebPush: api.registerWebPush, loading, error };
}

/** Queue statistics for an admin page (admin or service role), refreshed every `intervalMs` (default 5 s). */
export function useJobStats(options: { intervalMs?: number } = {}) {
  const { client } = useNself();
  const jobs = useMemo(() => createJobs(client), [client]);
  const [stats, setStats] = useState<QueueStats[] | null>(null);
  const [error, setError] = useState<NselfError | null>(null);
  const refresh = useCallback(() => jobs.stats().then(setStats, setError), [jobs]);
  useEffect(() => {
    void refresh();
    const t = setInterval(() => void refresh(), options.intervalMs ?? 5000);
    return () => clearInterval(t);
  }, [refresh, options.intervalMs]);
  return { stats, loading: stats === null && error === null, error, refresh };
}

export interface UseSearchOptions extends SearchParams {
  /** Quiet time after the last `search` call before the request is sent (default 200 ms). */
  debounceMs?: number;
  /** Shorter queries send nothing and show no hits (default 1). */
  minQueryLength?: number;
}

/**
 * `const { results, search, loading } = useSearch('nchat_messages')`: `search(text)` (from an input's onChange)
 * is debounced, cancels the request of the search it replaces, and sets `results` to `{ hits, query,
 * processingTime, … }` of the latest search only. Resolves with those results (null when it failed: see `error`).
 */
export function useSearch(index: string, options: UseSearchOptions = {}) {
  const { client } = useNself();
  const [results, setResults] = useState<SearchResults | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<NselfError | null>(null);
  const opts = useRef(options);
  opts.current = options;
  const searcher = useRef<DebouncedSearch | null>(null);
  useEffect(() => {
    const o = opts.current;
    setResults(null); // another index's hits are not this one's
    const s = createSearch(client).debounced(index, {
      ...o,
      onResults: (r) => {
        setResults(r);
        setError(null);
      },
      onError: setError,
      onLoading: setLoading,
    });
    searcher.current = s;
    return () => {
      s.dispose();
      if (searcher.current === s) searcher.current = null;
    };
  }, [client, index, options.debounceMs, options.minQueryLength]);
  const search = useCallback(async (q: string, overrides: SearchParams = {}): Promise<SearchResults | null> => {
    const s = searcher.current;
    if (!s) return null; // before the first effect (server rendering) or after unmount
    const { debounceMs: _d, minQueryLength: _m, ...params } = opts.current;
    return s.search(q, { ...params, ...overrides }).catch(() => null);
  }, []);
  return { results, search, loading, error };
}

/**
 * The OAuth session of the client's `oauthSession()` token provider: `user`, `signIn(provider)` (goes to the
 * provider), `handleRedirect()` (on the page the browser comes back to), `signOut()`, and the providers.
 */
export function useOAuth(options: { loadProviders?: boolean } = {}) {
  const { client } = useNself();
  const oauth = useMemo<OAuth>(() => createOAuth(client), [client]);
  const [session, setSession] = useState<OAuthSessionState | null>(() => oauth.session.session);
  const [providers, setProviders] = useState<OAuthProvider[] | null>(null);
  const [error, setError] = useState<NselfError | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setSession(oauth.session.session);
    return oauth.session.onChange(setSession);
  }, [oauth]);
  useEffect(() => {
    if (options.loadProviders === false) return;
    let live = true;
    oauth.providers().then((p) => live && setProviders(p), (e: NselfError) => live && setError(e));
    return () => {
      live = false;
    };
  }, [oauth, options.loadProviders]);
  const run = useCallback(async <T,>(work: () => Promise<T>): Promise<T | null> => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (e) {
      setError(e instanceof NselfError ? e : new NselfError(String((e as Error)?.message ?? e), 'network'));
      return null;
    } finally {
      setBusy(false);
    }
  }, []);
  const signIn = useCallback((provider: string, o: StartOptions = {}) => run(() => oauth.start(provider, o)), [oauth, run]);
  const handleRedirect = useCallback((url?: string) => run(() => oauth.handleRedirect(url)), [oauth, run]);
  const signOut = useCallback((o: { all?: boolean } = {}) => run(() => oauth.signOut(o)), [oauth, run]);
  return { user: session?.user ?? null, session, signedIn: session !== null, providers, signIn, handleRedirect, signOut, refresh: oauth.refresh, loading: busy, error };
}

export interface OAuthButtonProps extends Omit<StartOptions, 'redirect'> {
  provider: string;
  /** Called once the browser is back and the code is exchanged: the user is signed in. */
  onSuccess?(session: OAuthSessionState): void;
  onError?(error: NselfError): void;
  children?: ReactNode;
  className?: string;
  disabled?: boolean;
}

/** Strips the sign-in's parameters from the address bar once they are used (a reload must not reuse the code). */
function forgetRedirectParams() {
  const g = globalThis as unknown as { location?: { href: string }; history?: { replaceState(data: unknown, unused: string, url: string): void } };
  if (!g.location || !g.history) return;
  const u = new URL(g.location.href);
  for (const k of ['code', 'error', PROVIDER_PARAM]) u.searchParams.delete(k);
  g.history.replaceState(null, '', u.toString());
}

/**
 * `<OAuthButton provider="google" onSuccess={handleLogin} />`: a button that starts the sign-in and, on the page
 * the browser comes back to, exchanges the code (for its own provider only) and calls `onSuccess`.
 */
export function OAuthButton(props: OAuthButtonProps) {
  const { client } = useNself();
  const oauth = useMemo<OAuth>(() => createOAuth(client), [client]);
  const [busy, setBusy] = useState(false);
  const handlers = useRef(props);
  handlers.current = props;
  useEffect(() => {
    const href = (globalThis as unknown as { location?: { href: string } }).location?.href;
    if (!href || new URL(href).searchParams.get(PROVIDER_PARAM) !== props.provider) return;
    let live = true;
    setBusy(true);
    // The callbacks run even when the session change already unmounted the button (a sign-in page that goes away
    // once signed in): they are how the app learns the outcome.
    oauth.handleRedirect(href, props.link ? { link: true } : {}).then(
      (r) => {
        forgetRedirectParams();
        if (live) setBusy(false);
        if (r) handlers.current.onSuccess?.(r.session);
      },
      (e: unknown) => {
        forgetRedirectParams();
        if (live) setBusy(false);
        handlers.current.onError?.(e instanceof NselfError ? e : new NselfError(String((e as Error)?.message ?? e), 'network'));
      },
    );
    return () => {
      live = false;
    };
  }, [oauth, props.provider, props.link]);
  const onClick = useCallback(() => {
    const p = handlers.current;
    setBusy(true);
    oauth.start(p.provider, { ...(p.redirectTo !== undefined ? { redirectTo: p.redirectTo } : {}), ...(p.link !== undefined ? { link: p.link } : {}) }).catch((e: unknown) => {
      setBusy(false);
      p.onError?.(e instanceof NselfError ? e : new NselfError(String((e as Error)?.message ?? e), 'network'));
    });
  }, [oauth]);
  return createElement(
    'button',
    { type: 'button', onClick, disabled: props.disabled || busy, className: props.className, 'data-provider': props.provider, 'aria-busy': busy },
    props.children ?? `Sign in with ${props.provider.charAt(0).toUpperCase()}${props.provider.slice(1)}`,
  );
}
