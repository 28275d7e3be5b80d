/**
 * Rooms and membership. Public rooms are open to anyone; private rooms (every dm: and user: room) are joined
 * only when a member with the owner or admin role, or the service role, adds the user. A user: room is the
 * personal room of that user: created on first use, and nobody else is ever a member.
 */
import type { PoolClient } from 'pg';
import type { Db, Queryable } from '../../../core/plugin.js';
import { realtimeError } from './errors.js';
import { insertSystemEvent } from './events.js';

export type MemberRole = 'owner' | 'admin' | 'member';
const RANK: Record<MemberRole, number> = { owner: 3, admin: 2, member: 1 };

export interface RoomRow {
  id: string;
  type: string;
  private: boolean;
  parent_id: string | null;
  name: string | null;
  metadata: unknown;
  created_by: string | null;
  created_at: Date;
}

export interface Actor {
  userId: string | null;
  /** admin or service role: acts for the app. */
  service: boolean;
}

/** Rooms of these kinds are always private. */
const ALWAYS_PRIVATE = new Set(['dm', 'user']);
export const personalRoomOf = (roomId: string): string | null => (roomId.startsWith('user:') ? roomId.slice(5) : null);

export async function findRoom(q: Queryable, roomId: string, lock = false): Promise<RoomRow | null> {
  const r = await q.query<RoomRow>(`SELECT * FROM realtime.room WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [roomId]);
  return r.rows[0] ?? null;
}

export async function memberRole(q: Queryable, roomId: string, userId: string): Promise<MemberRole | null> {
  const r = await q.query<{ role: MemberRole }>('SELECT role FROM realtime.room_member WHERE room_id = $1 AND user_id = $2', [roomId, userId]);
  return r.rows[0]?.role ?? null;
}

/** The personal room of `userId`, created with them as its owner when missing. */
export async function ensurePersonalRoom(q: Queryable, userId: string): Promise<void> {
  const id = `user:${userId}`;
  await q.query(`INSERT INTO realtime.room (id, private, created_by) VALUES ($1, true, $2) ON CONFLICT (id) DO NOTHING`, [id, userId]);
  await q.query(`INSERT INTO realtime.room_member (room_id, user_id, role, added_by) VALUES ($1, $2, 'owner', $2) ON CONFLICT DO NOTHING`, [id, userId]);
}

export interface CreateRoomInput {
  id: string;
  private?: boolean | null;
  name?: string | null;
  parentId?: string | null;
  metadata?: unknown;
  members?: { userId: string; role: MemberRole }[] | null;
  createdBy: string | null;
}

/** Creates a room or updates its settings (service role), and adds the listed members. */
export async function upsertRoom(db: Db, input: CreateRoomInput): Promise<{ room: RoomRow; created: boolean; membersAdded: number }> {
  const type = input.id.slice(0, input.id.indexOf(':'));
  const personal = personalRoomOf(input.id);
  for (const m of input.members ?? []) {
    if (personal !== null && m.userId !== personal) throw realtimeError('realtime/forbidden', `only ${personal} can be a member of ${input.id}`);
  }
  if (input.parentId === input.id) throw realtimeError('realtime/invalid-input', 'a room cannot be its own parent');
  const isPrivate = ALWAYS_PRIVATE.has(type) ? true : (input.private ?? false);
  return db.tx(async (c) => {
    if (input.parentId && !(await findRoom(c, input.parentId))) throw realtimeError('realtime/room-not-found', `no parent room ${input.parentId}`);
    const r = await c.query<RoomRow & { inserted: boolean }>(
      `INSERT INTO realtime.room (id, private, parent_id, name, metadata, created_by)
       VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}'::jsonb), $6)
       ON CONFLICT (id) DO UPDATE SET private = excluded.private,
              parent_id = coalesce($3, room.parent_id), name = coalesce($4, room.name),
              metadata = coalesce($5::jsonb, room.metadata)
       RETURNING *, (xmax = 0) AS inserted`,
      [input.id, isPrivate, input.parentId ?? null, input.name ?? null, input.metadata === undefined || input.metadata === null ? null : JSON.stringify(input.metadata), input.createdBy],
    );
    const { inserted, ...room } = r.rows[0]!;
    let membersAdded = 0;
    if (personal !== null) await ensurePersonalRoom(c, personal);
    for (const m of input.members ?? []) {
      const added = await addMember(c, room.id, m.userId, m.role, input.createdBy);
      if (added.created) membersAdded++;
    }
    return { room, created: inserted, membersAdded };
  });
}

async function addMember(c: PoolClient, roomId: string, userId: string, role: MemberRole, addedBy: string | null) {
  const r = await c.query<{ role: MemberRole; joined_at: Date; inserted: boolean }>(
    `INSERT INTO realtime.room_member (room_id, user_id, role, added_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (room_id, user_id) DO UPDATE SET role = excluded.role WHERE room_member.role <> excluded.role
     RETURNING role, joined_at, (xmax = 0) AS inserted`,
    [roomId, userId, role, addedBy],
  );
  const row = r.rows[0];
  if (!row) {
    const cur = await c.query<{ role: MemberRole; joined_at: Date }>('SELECT role, joined_at FROM realtime.room_member WHERE room_id = $1 AND user_id = $2', [roomId, userId]);
    return { role: cur.rows[0]!.role, joinedAt: cur.rows[0]!.joined_at, created: false, changed: false };
  }
  if (row.inserted) await insertSystemEvent(c, roomId, 'member:joined', { userId, role, addedBy }, addedBy ?? userId);
  else await insertSystemEvent(c, roomId, 'member:role', { userId, role, changedBy: addedBy }, addedBy ?? userId);
  return { role: row.role, joinedAt: row.joined_at, created: row.inserted, changed: true };
}

export interface Membership {
  roomId: string;
  userId: string;
  role: MemberRole;
  joinedAt: string;
  created: boolean;
}

/**
 * Joins `target` (default: the actor) to a room. Joining yourself: public rooms (and threads of rooms you are
 * in) are open; private ones need an existing grant. Adding someone else (or choosing a role) needs the owner
 * or admin role in the room — never a role above your own — or the service role.
 */
export async function joinRoom(db: Db, actor: Actor, roomId: string, target: string, role: MemberRole | null): Promise<Membership> {
  const personal = personalRoomOf(roomId);
  if (personal !== null && target !== personal) throw realtimeError('realtime/forbidden', `only ${personal} can be a member of ${roomId}`);
  return db.tx(async (c) => {
    if (personal !== null && (actor.service || actor.userId === personal)) await ensurePersonalRoom(c, personal);
    const room = await findRoom(c, roomId);
    if (!room) throw realtimeError('realtime/room-not-found', `no room ${roomId}`);
    const self = !actor.service && actor.userId === target;
    const actorRole = actor.service || !actor.userId ? null : await memberRole(c, roomId, actor.userId);
    if (self) {
      if (actorRole) {
        if (role && role !== actorRole) throw realtimeError('realtime/forbidden', 'you cannot change your own role');
        const cur = await c.query<{ joined_at: Date }>('SELECT joined_at FROM realtime.room_member WHERE room_id = $1 AND user_id = $2', [roomId, target]);
        return { roomId, userId: target, role: actorRole, joinedAt: cur.rows[0]!.joined_at.toISOString(), created: false };
      }
      if (role && role !== 'member') throw realtimeError('realtime/forbidden', 'you can only join as a member');
      if (room.private) throw realtimeError('realtime/private-room');
      if (room.parent_id && !(await memberRole(c, room.parent_id, target))) {
        throw realtimeError('realtime/not-a-member', `join ${room.parent_id} first: ${roomId} is one of its threads`);
      }
      const added = await addMember(c, roomId, target, 'member', target);
      return { roomId, userId: target, role: added.role, joinedAt: added.joinedAt.toISOString(), created: added.created };
    }
    const grant: MemberRole = role ?? 'member';
    if (!actor.service) {
      if (!actorRole) throw realtimeError('realtime/not-a-member');
      if (RANK[actorRole] < RANK.admin) throw realtimeError('realtime/forbidden', 'only owners and admins of a room can add members');
      if (RANK[grant] > RANK[actorRole]) throw realtimeError('realtime/forbidden', `an ${actorRole} cannot grant the ${grant} role`);
      const current = await memberRole(c, roomId, target);
      if (current && RANK[current] > RANK[actorRole]) throw realtimeError('realtime/forbidden', `an ${actorRole} cannot change the role of an ${current}`);
    }
    const added = await addMember(c, roomId, target, grant, actor.service ? (actor.userId ?? null) : actor.userId);
    return { roomId, userId: target, role: added.role, joinedAt: added.joinedAt.toISOString(), created: added.created };
  });
}

/** Removes `target` (default: the actor) from a room: yourself always; others as owner/admin (not above you) or service. */
export async function leaveRoom(db: Db, actor: Actor, roomId: string, target: string): Promise<{ roomId: string; userId: string; left: boolean }> {
  return db.tx(async (c) => {
    const room = await findRoom(c, roomId);
    if (!room) throw realtimeError('realtime/room-not-found', `no room ${roomId}`);
    const self = !actor.service && actor.userId === target;
    if (!self && !actor.service) {
      const actorRole = actor.userId ? await memberRole(c, roomId, actor.userId) : null;
      if (!actorRole) throw realtimeError('realtime/not-a-member');
      if (RANK[actorRole] < RANK.admin) throw realtimeError('realtime/forbidden', 'only owners and admins of a room can remove members');
      const targetRole = await memberRole(c, roomId, target);
      if (targetRole && RANK[targetRole] > RANK[actorRole]) throw realtimeError('realtime/forbidden', `an ${actorRole} cannot remove an ${targetRole}`);
    }
    const del = await c.query('DELETE FROM realtime.room_member WHERE room_id = $1 AND user_id = $2', [roomId, target]);
    if (!del.rowCount) return { roomId, userId: target, left: false };
    // Threads of the room go with it: a thread's members must be members of its channel.
    await c.query(
      `DELETE FROM realtime.room_member m USING realtime.room r WHERE r.parent_id = $1 AND m.room_id = r.id AND m.user_id = $2`,
      [roomId, target],
    );
    await c.query(`DELETE FROM realtime.typing WHERE room_id = $1 AND user_id = $2`, [roomId, target]);
    await insertSystemEvent(c, roomId, 'member:left', { userId: target, removedBy: self ? null : actor.userId }, actor.userId ?? target);
    return { roomId, userId: target, left: true };
  });
}

/**
 * Deletes a room with its members, events, typing rows and threads (service role). Calls in it keep their
 * history with no room. Clients see it go through their membership subscriptions.
 */
export async function deleteRoom(db: Db, roomId: string): Promise<{ id: string; deleted: boolean }> {
  return db.tx(async (c) => {
    const threads = await c.query<{ id: string }>(
      `WITH RECURSIVE t AS (SELECT id FROM realtime.room WHERE id = $1 UNION SELECT r.id FROM realtime.room r JOIN t ON r.parent_id = t.id) SELECT id FROM t`,
      [roomId],
    );
    if (!threads.rowCount) return { id: roomId, deleted: false };
    const ids = threads.rows.map((r) => r.id);
    // typing has no foreign key (it is unlogged); everything else cascades.
    await c.query('DELETE FROM realtime.typing WHERE room_id = ANY($1::text[])', [ids]);
    await c.query('DELETE FROM realtime.room WHERE id = $1', [roomId]);
    return { id: roomId, deleted: true };
  });
}
