import { z } from 'zod';
import type { ActionHandler } from '../../src/core/plugin.js';
import type { RealtimeConfig } from '../../src/plugins/realtime/config.js';
import { memberRole, parseInput, roomId, userId } from '../../src/plugins/realtime/lib/input.js';
import { upsertRoom } from '../../src/plugins/realtime/lib/rooms.js';

const input = z.object({
  id: roomId,
  private: z.boolean().nullish(),
  name: z.string().max(200).nullish(),
  parentId: roomId.nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish().refine((m) => m == null || JSON.stringify(m).length <= 16_384, { message: 'at most 16 KiB of metadata' }),
  members: z.array(z.object({ userId, role: memberRole.nullish() })).max(1000).nullish(),
});

export const realtimeCreateRoom: ActionHandler<unknown, unknown, RealtimeConfig> = async (raw, ctx) => {
  const i = parseInput(input, raw);
  const { room, created, membersAdded } = await upsertRoom(ctx.db, {
    id: i.id,
    private: i.private ?? null,
    name: i.name ?? null,
    parentId: i.parentId ?? null,
    metadata: i.metadata ?? null,
    members: (i.members ?? []).map((m) => ({ userId: m.userId, role: m.role ?? 'member' })),
    createdBy: ctx.session.userId,
  });
  return {
    id: room.id,
    type: room.type,
    private: room.private,
    parentId: room.parent_id,
    name: room.name,
    metadata: room.metadata,
    createdAt: room.created_at.toISOString(),
    created,
    membersAdded,
  };
};
