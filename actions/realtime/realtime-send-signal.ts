import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { endCall } from '../../src/plugins/realtime/lib/calls.js';
import { parseInput, userId, uuid } from '../../src/plugins/realtime/lib/input.js';
import { requireUser } from '../../src/plugins/realtime/lib/session.js';
import { kindFromGraphql, parseSignalPayload, sendSignal } from '../../src/plugins/realtime/lib/signals.js';

const input = z.object({
  callId: uuid,
  toUserId: userId.nullish(),
  kind: z.enum(['offer', 'answer', 'ice', 'renegotiate', 'hangup', 'mute', 'video', 'screen_share']),
  payload: z.unknown().optional(),
});

export const realtimeSendSignal: ActionHandler<unknown, { ids: string[]; recipients: string[] }, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const from = requireUser(ctx);
  const kind = kindFromGraphql(i.kind);
  const payload = parseSignalPayload(kind, i.payload, ctx.config.REALTIME_SIGNAL_MAX_BYTES);
  const sent = await sendSignal(ctx.db, { callId: i.callId, from, to: i.toUserId ?? null, kind, payload });
  if (kind === 'hangup') await endCall(ctx.db, i.callId, { userId: from, service: false }, typeof payload.reason === 'string' ? payload.reason : null);
  return sent;
};
