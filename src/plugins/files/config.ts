import { z } from 'zod';
import { forFeature, secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** `true`/`false`/`1`/`0`/`yes`/`no` (`z.coerce.boolean()` would read "false" as true). */
const flag = (def: boolean, description: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .describe(description);

const httpUrl = z.string().refine(
  (v) => {
    try {
      return ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { message: 'must be an http(s) URL' },
);

/** Settings of the files plugin (apart from the manifest so handlers and lib name the type without a cycle). */
export const filesConfig = z
  .object({
    FILES_STORAGE: z
      .enum(['local', 's3'])
      .default('local')
      .describe('Where the bytes live: local (a folder served under /hooks/files with signed URLs) or s3 (MinIO, AWS S3, R2… through presigned URLs).'),
    FILES_LOCAL_DIR: z.string().min(1).optional().describe('Folder of the local driver. Default: DATA_DIR/files.'),
    FILES_SIGNING_SECRET: secret(z.string().min(32, 'must be at least 32 characters'))
      .optional()
      .describe('Key of the local driver\'s URL signatures. Default: derived from NSELF_PLUGINS_WEBHOOK_SECRET (every replica agrees).'),
    FILES_S3_URL: httpUrl.optional().describe('S3 endpoint the server talks to, e.g. http://minio:9000 or https://s3.eu-west-1.amazonaws.com. Required with FILES_STORAGE=s3.'),
    FILES_S3_PUBLIC_URL: httpUrl
      .optional()
      .describe('S3 endpoint browsers reach, when it differs from FILES_S3_URL (MinIO behind a proxy): presigned URLs are signed for this host.'),
    FILES_S3_BUCKET: z.string().min(3).max(63).default('nself-files').describe('S3 bucket holding every files bucket (as key prefixes).'),
    FILES_S3_REGION: z.string().min(1).default('us-east-1').describe('S3 region (MinIO accepts us-east-1).'),
    FILES_S3_ACCESS_KEY: z.string().min(1).optional().describe('S3 access key id.'),
    FILES_S3_SECRET_KEY: secret(z.string().min(1)).optional().describe('S3 secret access key.'),
    FILES_S3_PATH_STYLE: flag(true, 'Path-style URLs (http://host/bucket/key), as MinIO needs; false for virtual-hosted style (AWS, R2).'),
    FILES_S3_CREATE_BUCKET: flag(false, 'Create FILES_S3_BUCKET at start when it is missing.'),
    FILES_S3_UPLOAD_METHOD: z
      .enum(['POST', 'PUT'])
      .default('POST')
      .describe('Default upload method with S3: POST (a policy makes the storage enforce the exact size) or PUT (for stores without POST uploads, such as R2).'),
    FILES_UPLOAD_EXPIRY_SECONDS: int(60, 7 * 86_400, 3600, 'A single-request upload not completed this long after it was created is dropped (hourly cron).'),
    FILES_MULTIPART_EXPIRY_SECONDS: int(3600, 30 * 86_400, 86_400, 'A multipart upload not completed this long after it was created is aborted and dropped (hourly cron).'),
    FILES_MULTIPART_PART_SIZE: int(5 * 1024 * 1024, 5 * 1024 ** 3, 16 * 1024 * 1024, 'Default part size of multipart uploads (S3: at least 5 MiB, at most 10,000 parts).'),
    FILES_DOWNLOAD_EXPIRY_SECONDS: int(1, 7 * 86_400, 300, 'Upper bound on download URL lifetimes (a bucket may ask for less).'),
    FILES_MAX_NAME_LENGTH: int(1, 255, 255, 'Longest file name accepted, in characters.'),
    FILES_MAX_IMAGE_PIXELS: int(1, 1_000_000_000, 50_000_000, 'Largest image, video poster or PDF preview (width × height) decoded; larger images fail before decoding (decompression bombs).'),
    FILES_BLURHASH: flag(true, 'Compute a BlurHash placeholder for images, video posters and PDF previews.'),
    FILES_TOOL_TIMEOUT_MS: int(1000, 3_600_000, 300_000, 'Longest one run of ffmpeg, ffprobe, pdftoppm or pdfinfo may take.'),
    FILES_CLAMD_SOCKET: forFeature('virus-scan', z.string().min(1).optional().describe('clamd Unix socket (e.g. /run/clamav/clamd.ctl); else FILES_CLAMD_HOST/PORT.')),
    FILES_CLAMD_HOST: forFeature('virus-scan', z.string().min(1).default('127.0.0.1').describe('clamd TCP host, when FILES_CLAMD_SOCKET is not set.')),
    FILES_CLAMD_PORT: forFeature('virus-scan', int(1, 65535, 3310, 'clamd TCP port.')),
    FILES_CLAMD_TIMEOUT_MS: forFeature('virus-scan', int(1000, 3_600_000, 120_000, 'Longest a scan may take before it is retried.')),
    FILES_FFMPEG_PATH: forFeature('video', z.string().min(1).default('ffmpeg').describe('ffmpeg binary (poster frames).')),
    FILES_FFPROBE_PATH: forFeature('video', z.string().min(1).default('ffprobe').describe('ffprobe binary (duration, dimensions).')),
    FILES_PDFTOPPM_PATH: forFeature('documents', z.string().min(1).default('pdftoppm').describe('poppler pdftoppm binary (first-page previews).')),
    FILES_PDFINFO_PATH: forFeature('documents', z.string().min(1).default('pdfinfo').describe('poppler pdfinfo binary (page counts).')),
  });

/**
 * Settings FILES_STORAGE=s3 needs. Checked by the storage service at start rather than with a refinement:
 * feature filtering (`withFeatures`) omits keys from this object, which zod refuses on refined objects.
 */
export function s3ConfigProblems(c: FilesConfig): string[] {
  if (c.FILES_STORAGE !== 's3') return [];
  return (['FILES_S3_URL', 'FILES_S3_ACCESS_KEY', 'FILES_S3_SECRET_KEY'] as const).filter((k) => !c[k]).map((k) => `${k} is required when FILES_STORAGE=s3`);
}

export type FilesConfig = z.infer<typeof filesConfig>;
