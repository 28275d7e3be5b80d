import { definePlugin } from '../../core/plugin.js';
import { filesConfig, type FilesConfig } from './config.js';
import { FILES_JOBS } from './lib/jobs.js';
import { filesClamd, filesStorage } from './lib/services.js';
import { LocalStorage } from './lib/storage/local.js';
import { localRoutes } from './lib/storage/local-routes.js';
import { filesCreateUpload } from '../../../actions/files/files-create-upload.js';
import { filesCreateMultipartUpload } from '../../../actions/files/files-create-multipart-upload.js';
import { filesSignUploadParts } from '../../../actions/files/files-sign-upload-parts.js';
import { filesCompleteUpload } from '../../../actions/files/files-complete-upload.js';
import { filesAbortUpload } from '../../../actions/files/files-abort-upload.js';
import { filesDelete } from '../../../actions/files/files-delete.js';
import { filesGetDownloadUrl } from '../../../actions/files/files-get-download-url.js';
import { filesUsage } from '../../../actions/files/files-usage.js';
import { filesReprocess } from '../../../actions/files/files-reprocess.js';
import { filesFileStatusChanged } from '../../../event-triggers/files/files-file-status-changed.js';
import { filesFilePurge } from '../../../event-triggers/files/files-file-purge.js';
import { filesPendingDropExpired } from '../../../cron-triggers/files/files-pending-drop-expired.js';
import { filesMultipartAbortAbandoned } from '../../../cron-triggers/files/files-multipart-abort-abandoned.js';

const USERS = ['user'];

/** Columns a client reads; object keys and upload ids stay server-side. */
const FILE_COLUMNS = [
  'id', 'bucket_id', 'owner_id', 'name', 'declared_mime_type', 'mime_type', 'size', 'sha256', 'status', 'failure_reason',
  'scan_result', 'virus_name', 'variants', 'blurhash', 'width', 'height', 'duration_seconds', 'pages', 'metadata',
  'uploaded_at', 'processed_at', 'created_at', 'updated_at',
];

const toFile = () => [{ name: 'file', type: 'object' as const, remote_table: { schema: 'files', name: 'file' }, field_mapping: { id: 'id' } }];

export const filesPlugin = definePlugin({
  name: 'files',
  version: '0.1.0',
  description: 'Direct-to-storage uploads (S3/MinIO or a local folder) with presigned URLs, multipart uploads, quotas, MIME sniffing, image variants, video posters, PDF previews and virus scanning.',
  dependsOn: ['jobs'],
  config: filesConfig,
  features: {
    thumbnails: { description: 'AVIF/WebP variants of images at the bucket\'s sizes, blurhash and dimensions (sharp)', default: true },
    video: { description: 'Duration, dimensions and poster-frame variants of videos (ffprobe, ffmpeg)' },
    documents: { description: 'Page count and first-page preview variants of PDFs (poppler)' },
    'virus-scan': { description: 'Every upload streamed through clamd before it can be downloaded; infected files are quarantined' },
  },
  services: [filesStorage, filesClamd],
  tables: [
    {
      table: { schema: 'files', name: 'bucket' },
      configuration: { custom_name: 'files_bucket' },
      select_permissions: [
        {
          role: 'user',
          permission: {
            columns: ['id', 'public', 'min_size', 'max_size', 'allowed_mime_types', 'url_expires_in', 'variant_sizes', 'variant_formats', 'variant_fit', 'user_quota'],
            filter: {},
          },
        },
      ],
    },
    {
      table: { schema: 'files', name: 'file' },
      configuration: { custom_name: 'files_file' },
      object_relationships: [{ name: 'bucket', using: { foreign_key_constraint_on: 'bucket_id' } }],
      select_permissions: [
        {
          role: 'user',
          permission: {
            columns: FILE_COLUMNS,
            // Own files (every status: the upload UI follows them), and ready files of public buckets.
            filter: {
              _and: [
                { deleted_at: { _is_null: true } },
                { _or: [{ owner_id: { _eq: 'X-Hasura-User-Id' } }, { _and: [{ bucket: { public: { _eq: true } } }, { status: { _eq: 'ready' } }] }] },
              ],
            },
            allow_aggregations: true,
          },
        },
      ],
      event_triggers: [
        {
          name: 'files_file_status_changed',
          definition: { update: { columns: ['status'] } },
          retry_conf: { num_retries: 5, interval_sec: 10, timeout_sec: 30 },
          comment: 'Starts the scan or processing job for the status a file reached',
          handler: filesFileStatusChanged,
        },
        {
          name: 'files_file_purge',
          definition: { update: { columns: ['status', 'deleted_at'] }, delete: { columns: '*' } },
          retry_conf: { num_retries: 10, interval_sec: 30, timeout_sec: 60 },
          comment: 'Removes the objects of deleted and rejected files',
          handler: filesFilePurge,
        },
      ],
    },
  ],
  actions: {
    filesCreateUpload: { handler: filesCreateUpload, permissions: USERS, timeout: 30 },
    filesCreateMultipartUpload: { handler: filesCreateMultipartUpload, permissions: USERS, timeout: 30 },
    filesSignUploadParts: { handler: filesSignUploadParts, permissions: USERS, timeout: 30 },
    filesCompleteUpload: { handler: filesCompleteUpload, permissions: USERS, timeout: 60 },
    filesAbortUpload: { handler: filesAbortUpload, permissions: USERS, timeout: 30 },
    filesDelete: { handler: filesDelete, permissions: USERS, timeout: 30 },
    filesGetDownloadUrl: { handler: filesGetDownloadUrl, permissions: USERS, timeout: 10 },
    filesUsage: { handler: filesUsage, permissions: USERS, timeout: 10 },
    filesReprocess: { handler: filesReprocess, permissions: [], timeout: 60, comment: 'admin only: regenerates variants' },
  },
  actionRelationships: {
    FilesUpload: toFile(),
    FilesMultipartUpload: toFile(),
    FilesFile: toFile(),
    FilesDownload: toFile(),
  },
  crons: {
    files_pending_drop_expired: {
      schedule: '17 * * * *',
      payload: {},
      retry_conf: { num_retries: 2, retry_interval_seconds: 300, timeout_seconds: 120, tolerance_seconds: 3600 },
      comment: 'Drops single-request uploads never completed before their expiry',
      handler: filesPendingDropExpired,
    },
    files_multipart_abort_abandoned: {
      schedule: '47 * * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 300, timeout_seconds: 300, tolerance_seconds: 3600 },
      comment: 'Aborts multipart uploads left open past their expiry and drops their files',
      handler: filesMultipartAbortAbandoned,
    },
  },
  jobs: FILES_JOBS,
  routes(router, runtime) {
    // The local driver's signed upload/download URLs; with S3 the bytes never come here.
    localRoutes(
      router,
      () => {
        const storage = runtime.service(filesStorage);
        return storage instanceof LocalStorage ? storage : undefined;
      },
      async (stagingKey) => {
        const r = await runtime.db.query(
          `select 1 from files.file where object_key = $1 and status = 'pending' and deleted_at is null`,
          [stagingKey.replace(/^uploads\//, '')],
        );
        return r.rowCount === 1;
      },
    );
  },
});

export type { FilesConfig };
