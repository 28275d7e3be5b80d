/**
 * Definitions shipped with the plugin: the suite's own tables. A chat app's messages, users and channels are a
 * documented example (examples/chat-definitions.json beside the README), not shipped, since the tables are the
 * app's.
 */
export const SHIPPED_DEFINITIONS: unknown[] = [
  {
    name: 'files',
    description: 'Files of the files plugin, by name and type: your own files and ready files of public buckets.',
    table: { schema: 'files', name: 'file' },
    primaryKey: 'id',
    searchable: [
      { column: 'name', weight: 'A' },
      { column: 'mime_type', weight: 'C' },
    ],
    filterable: ['bucket_id', 'mime_type', 'status', 'owner_id'],
    sortable: ['created_at', 'size'],
    display: ['size'],
    language: 'unaccent',
    tenantColumn: 'owner_id',
    recencyColumn: 'created_at',
    // Deleted files leave the index (for admin too) and come back if restored.
    where: { deleted_at: { _is_null: true } },
    relationships: { bucket: { table: { schema: 'files', name: 'bucket' }, type: 'object', mapping: { bucket_id: 'id' } } },
    permissions: {
      user: {
        filter: { _or: [{ owner_id: { _eq: 'X-Hasura-User-Id' } }, { _and: [{ bucket: { public: { _eq: true } } }, { status: { _eq: 'ready' } }] }] },
      },
    },
  },
];
