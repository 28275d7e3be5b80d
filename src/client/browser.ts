/**
 * The few browser APIs the SDK touches, typed here and read from `globalThis` when used (never at import), so
 * the SDK compiles without the DOM library, imports in Node and server rendering, and feature-detects at run time.
 */

export interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  getResponseHeader(name: string): string | null;
  send(body: unknown): void;
  abort(): void;
  readonly status: number;
  readonly responseText: string;
  upload: { onprogress: ((e: { loaded: number; total: number }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

export interface DocumentLike {
  readonly visibilityState: 'visible' | 'hidden' | string;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

export interface PushSubscriptionLike {
  toJSON(): unknown;
  unsubscribe(): Promise<boolean>;
}

export interface ServiceWorkerRegistrationLike {
  pushManager: {
    getSubscription(): Promise<PushSubscriptionLike | null>;
    subscribe(o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }): Promise<PushSubscriptionLike>;
  };
}

interface BrowserGlobals {
  XMLHttpRequest?: new () => XhrLike;
  document?: DocumentLike;
  navigator?: {
    userAgent: string;
    serviceWorker?: { register(url: string): Promise<ServiceWorkerRegistrationLike>; ready: Promise<ServiceWorkerRegistrationLike> };
  };
  Notification?: { permission: string; requestPermission(): Promise<string> };
}

export const browser = (): BrowserGlobals => globalThis as unknown as BrowserGlobals;

export interface RtcSessionDescriptionLike {
  type: string;
  sdp?: string | null;
}

export interface RtcDataChannelLike {
  readonly label: string;
  readonly readyState: string;
  send(data: string): void;
  close(): void;
  onopen: (() => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
}

export interface RtcPeerConnectionLike {
  createOffer(): Promise<RtcSessionDescriptionLike>;
  createAnswer(): Promise<RtcSessionDescriptionLike>;
  setLocalDescription(d: RtcSessionDescriptionLike): Promise<void>;
  setRemoteDescription(d: RtcSessionDescriptionLike): Promise<void>;
  addIceCandidate(c: unknown): Promise<void>;
  createDataChannel(label: string): RtcDataChannelLike;
  close(): void;
  readonly localDescription: RtcSessionDescriptionLike | null;
  readonly remoteDescription: RtcSessionDescriptionLike | null;
  readonly connectionState: string;
  onicecandidate: ((e: { candidate: { toJSON(): unknown } | null }) => void) | null;
  onnegotiationneeded: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  ondatachannel: ((e: { channel: RtcDataChannelLike }) => void) | null;
  ontrack: ((e: unknown) => void) | null;
}

export type RtcPeerConnectionCtor = new (config: { iceServers: { urls: string | string[]; username?: string; credential?: string }[] }) => RtcPeerConnectionLike;

export const rtcPeerConnection = (): RtcPeerConnectionCtor | undefined => (globalThis as unknown as { RTCPeerConnection?: RtcPeerConnectionCtor }).RTCPeerConnection;
