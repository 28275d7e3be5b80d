import type { ActionHandler } from '../../src/core/plugin.js';
import type { EmailConfig } from '../../src/plugins/email/config.js';
import { emailError } from '../../src/plugins/email/lib/errors.js';
import { parseInput, upsertTemplateInput } from '../../src/plugins/email/lib/input.js';
import { canonicalLocale } from '../../src/plugins/email/lib/locale.js';
import { TemplateError } from '../../src/plugins/email/lib/render.js';
import { emailService } from '../../src/plugins/email/lib/service.js';
import type { EmailTemplateResult } from '../../src/generated/actions.js';

/** Creates or replaces a template after checking that it and its variables schema compile. */
export const emailUpsertTemplate: ActionHandler<unknown, EmailTemplateResult, EmailConfig> = async (input, ctx) => {
  const t = parseInput(upsertTemplateInput, input);
  const locale = canonicalLocale(t.locale);
  if (!locale) throw emailError('email/invalid-input', 'locale must be a BCP 47 tag such as en, de or de-AT');
  if (t.html == null && t.text == null) throw emailError('email/content-required', 'a template needs html, text or both');
  const { renderer } = ctx.service(emailService);
  let schema: Record<string, unknown>;
  try {
    renderer.checkSource(t.subject, 'subject');
    if (t.html != null) renderer.checkSource(t.html, 'html');
    if (t.text != null) renderer.checkSource(t.text, 'text');
    schema = t.schema ?? renderer.inferSchema(t.subject, t.html, t.text);
    renderer.checkSchema(schema);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    throw emailError(e.kind === 'schema' ? 'email/invalid-schema' : 'email/invalid-template', e.message);
  }
  const layout = t.layout === undefined ? 'default' : t.layout;
  if (layout !== null) {
    const l = await ctx.db.query('select 1 from email.layout where key = $1 limit 1', [layout]);
    if (!l.rowCount) throw emailError('email/unknown-layout', `no layout "${layout}"`);
  }
  const r = await ctx.db.query<{ id: string; created: boolean }>(
    `insert into email.template (key, locale, subject, html, text, schema, layout, transactional, category)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (key, locale) do update set subject = excluded.subject, html = excluded.html, text = excluded.text,
       schema = excluded.schema, layout = excluded.layout, transactional = excluded.transactional,
       category = excluded.category, updated_at = now()
     returning id, (xmax = 0) as created`,
    [t.key, locale, t.subject, t.html ?? null, t.text ?? null, JSON.stringify(schema), layout, t.transactional ?? true, t.category ?? null],
  );
  const row = r.rows[0]!;
  return { id: row.id, key: t.key, locale, schema, created: row.created };
};
