import type { ActionContext } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';

/** Roles that act for the app itself: they may add anyone to any room and broadcast to any room. */
const SERVICE_ROLES = new Set(['admin', 'service']);

export function isService(ctx: ActionContext): boolean {
  return SERVICE_ROLES.has(ctx.session.role);
}

/** The caller's user id; every user-facing action needs one. */
export function requireUser(ctx: ActionContext): string {
  const id = ctx.session.userId;
  if (!id || id.length > 128) throw realtimeError('realtime/no-user');
  return id;
}
