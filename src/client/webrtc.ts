/**
 * A WebRTC peer connection whose signaling goes through the realtime plugin: the caller's side makes the offer,
 * the callee's side answers, ICE candidates flow both ways as `ice` signals addressed to the other user, and the
 * TURN credentials come from `realtimeIceServers`. Signals that arrive before the remote description are queued.
 * Media tracks and data channels are the app's: add them to `pc` (tracks) or call `pc.createDataChannel`.
 */
import type { Realtime, Signal } from './realtime.js';
import { rtcPeerConnection, type RtcPeerConnectionLike } from './browser.js';
import { NselfError } from './errors.js';

export interface CallConnectionOptions {
  callId: string;
  /** The other participant's user id. */
  peerId: string;
  /** The caller makes the offer; the callee waits for it. */
  role: 'caller' | 'callee';
  onError?: (e: unknown) => void;
}

export interface CallConnection {
  pc: RtcPeerConnectionLike;
  /** Sends a hangup signal and closes the connection. */
  close(reason?: string): Promise<void>;
}

export async function createCallConnection(realtime: { calls: Pick<Realtime['calls'], 'iceServers' | 'signal' | 'onSignals'> }, o: CallConnectionOptions): Promise<CallConnection> {
  const Ctor = rtcPeerConnection();
  if (!Ctor) throw new NselfError('RTCPeerConnection is not available here', 'unsupported');
  const { iceServers } = await realtime.calls.iceServers();
  const pc = new Ctor({ iceServers: iceServers.map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username } : {}), ...(s.credential ? { credential: s.credential } : {}) })) });
  const fail = (e: unknown) => o.onError?.(e);
  const pendingIce: unknown[] = [];
  let closed = false;

  pc.onicecandidate = (e) => {
    const c = e.candidate ? (e.candidate.toJSON() as Record<string, unknown>) : { candidate: null };
    void realtime.calls.signal(o.callId, 'ice', c, o.peerId).catch(fail);
  };
  if (o.role === 'caller') {
    pc.onnegotiationneeded = () =>
      void (async () => {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        await realtime.calls.signal(o.callId, 'offer', { type: 'offer', sdp: offer.sdp ?? '' }, o.peerId);
      })().catch(fail);
  }

  const onSignal = async (s: Signal) => {
    if (s.from_user_id !== o.peerId || closed) return;
    const payload = s.payload as { type?: string; sdp?: string; candidate?: string | null };
    if ((s.kind === 'offer' || s.kind === 'renegotiate') && o.role === 'callee') {
      await pc.setRemoteDescription({ type: 'offer', sdp: payload.sdp ?? '' });
      for (const c of pendingIce.splice(0)) await pc.addIceCandidate(c);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await realtime.calls.signal(o.callId, 'answer', { type: 'answer', sdp: answer.sdp ?? '' }, o.peerId);
    } else if (s.kind === 'answer' && o.role === 'caller') {
      await pc.setRemoteDescription({ type: 'answer', sdp: payload.sdp ?? '' });
      for (const c of pendingIce.splice(0)) await pc.addIceCandidate(c);
    } else if (s.kind === 'ice') {
      // A candidate of `null` ends the candidates; before the remote description it must wait.
      const c = payload.candidate === null ? null : payload;
      if (pc.remoteDescription) await pc.addIceCandidate(c);
      else pendingIce.push(c);
    } else if (s.kind === 'hangup') {
      closed = true;
      pc.close();
    }
  };
  // Signals are handled one at a time, in the order the stream delivers them.
  let chain = Promise.resolve();
  const stop = realtime.calls.onSignals(o.callId, (s) => void (chain = chain.then(() => onSignal(s)).catch(fail)), fail);

  return {
    pc,
    async close(reason) {
      if (!closed) {
        closed = true;
        await realtime.calls.signal(o.callId, 'hangup', { reason: reason ?? null }, o.peerId).catch(() => undefined);
      }
      stop();
      pc.close();
    },
  };
}
