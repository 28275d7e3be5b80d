import type { Queryable } from '../../../core/plugin.js';
import type { LayoutRow, TemplateRow } from './render.js';

/** The template of `key` in the first locale of `chain` that has one. */
export async function findTemplate(db: Queryable, key: string, chain: readonly string[]): Promise<TemplateRow | null> {
  const r = await db.query<TemplateRow>(
    `select id, key, locale, subject, html, text, schema, layout, transactional, category, updated_at
       from email.template where key = $1 and locale = any($2::text[])
      order by array_position($2::text[], locale) limit 1`,
    [key, chain],
  );
  return r.rows[0] ?? null;
}

export async function findLayout(db: Queryable, key: string, chain: readonly string[]): Promise<LayoutRow | null> {
  const r = await db.query<LayoutRow>(
    `select key, locale, html, text, updated_at from email.layout where key = $1 and locale = any($2::text[])
      order by array_position($2::text[], locale) limit 1`,
    [key, chain],
  );
  return r.rows[0] ?? null;
}
