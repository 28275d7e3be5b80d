import { ActionError, defineErrors } from '../../../core/errors.js';

export const REALTIME_ERRORS = defineErrors({
  'realtime/invalid-input': { status: 400, message: 'invalid input' },
  'realtime/no-user': { status: 400, message: 'this action needs a session with x-hasura-user-id' },
  'realtime/invalid-room-id': { status: 400, message: 'room ids are channel:<id>, thread:<id>, dm:<id> or user:<id> (id: up to 128 of A-Z a-z 0-9 _ . @ : -)' },
  'realtime/room-not-found': { status: 404, message: 'no room with this id' },
  'realtime/room-exists': { status: 409, message: 'a room with this id exists with other settings' },
  'realtime/not-a-member': { status: 403, message: 'you are not a member of this room' },
  'realtime/private-room': { status: 403, message: 'this room is private: a member with the owner or admin role (or the service role) must add you' },
  'realtime/forbidden': { status: 403, message: 'your role in this room does not allow this' },
  'realtime/payload-too-large': { status: 413, message: 'payload too large' },
  'realtime/rate-limited': { status: 429, message: 'too many broadcasts: try again later' },
  'realtime/too-many-rooms': { status: 400, message: 'too many rooms in one call' },
  'realtime/call-not-found': { status: 404, message: 'no call with this id that you take part in' },
  'realtime/call-ended': { status: 409, message: 'the call has ended' },
  'realtime/call-not-ringing': { status: 409, message: 'the call is not ringing for you' },
  'realtime/already-answered': { status: 409, message: 'you already answered this call' },
  'realtime/caller-busy': { status: 409, message: 'you are already in a call' },
  'realtime/no-shared-room': { status: 403, message: 'you can only call people you share a room with' },
  'realtime/too-many-participants': { status: 400, message: 'too many participants for one call' },
  'realtime/not-a-participant': { status: 403, message: 'the recipient does not take part in this call' },
  'realtime/invalid-signal': { status: 400, message: 'invalid signal payload' },
});

export type RealtimeErrorCode = keyof typeof REALTIME_ERRORS;

export function realtimeError(code: RealtimeErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(REALTIME_ERRORS, code, detail, extensions);
}
