import type { ActionHandler } from '../../src/core/plugin.js';
import type { WebhooksEventType } from '../../src/generated/actions.js';
import type { WebhooksConfig } from '../../src/plugins/webhooks/config.js';
import { registerEventTypes, schemaProblem } from '../../src/plugins/webhooks/lib/emit.js';
import { webhooksError } from '../../src/plugins/webhooks/lib/errors.js';
import { parseInput, registerTypeInput } from '../../src/plugins/webhooks/lib/input.js';

export const webhooksRegisterEventType: ActionHandler<unknown, WebhooksEventType, WebhooksConfig> = async (input, ctx) => {
  const i = parseInput(registerTypeInput, input);
  const problem = schemaProblem(i.schema);
  if (problem) throw webhooksError('webhooks/invalid-input', `invalid input: schema: ${problem}`);
  await registerEventTypes(ctx.db, [{ name: i.name, description: i.description, schema: i.schema ?? null, example: i.example ?? null }], 'app');
  return { name: i.name, description: i.description, schema: i.schema ?? null, example: i.example ?? null };
};
