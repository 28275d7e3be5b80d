/**
 * The plugin's long-lived objects: the storage driver (local folder or S3) and, with the `virus-scan`
 * feature, the clamd client. Handlers and jobs reach them with `ctx.service(filesStorage)`.
 */
import { join, resolve } from 'node:path';
import { defineService } from '../../../core/plugin.js';
import { s3ConfigProblems, type FilesConfig } from '../config.js';
import { ClamdClient } from './clamd.js';
import type { StorageDriver } from './storage/driver.js';
import { LocalStorage } from './storage/local.js';
import { signingKey } from './storage/signing.js';

export const filesStorage = defineService<StorageDriver, FilesConfig>({
  name: 'storage',
  async create(rt) {
    const c = rt.config;
    if (c.FILES_STORAGE === 's3') {
      const problems = s3ConfigProblems(c);
      if (problems.length) throw new Error(problems.join('; '));
      // The MinIO client loads only here: the local folder is the embedded default.
      const { S3Storage } = await import('./storage/s3.js');
      const s3 = new S3Storage({
        url: c.FILES_S3_URL!,
        publicUrl: c.FILES_S3_PUBLIC_URL,
        bucket: c.FILES_S3_BUCKET,
        region: c.FILES_S3_REGION,
        accessKey: c.FILES_S3_ACCESS_KEY!,
        secretKey: c.FILES_S3_SECRET_KEY!,
        pathStyle: c.FILES_S3_PATH_STYLE,
      });
      await s3.init(c.FILES_S3_CREATE_BUCKET);
      rt.log.info({ endpoint: c.FILES_S3_URL, bucket: c.FILES_S3_BUCKET }, 'files stored in S3');
      return s3;
    }
    const root = resolve(c.FILES_LOCAL_DIR ?? join(rt.core.DATA_DIR, 'files'));
    const local = new LocalStorage({
      root,
      baseUrl: `${rt.core.PUBLIC_URL.replace(/\/+$/, '')}/hooks/files`,
      signingKey: signingKeyFor(c, rt.core.NSELF_PLUGINS_WEBHOOK_SECRET),
    });
    await local.init();
    rt.log.info({ root }, 'files stored in a local folder, served under /hooks/files');
    return local;
  },
});

export const filesClamd = defineService<ClamdClient, FilesConfig>({
  name: 'clamd',
  feature: 'virus-scan',
  async create(rt) {
    const c = rt.config;
    const client = new ClamdClient({ socket: c.FILES_CLAMD_SOCKET, host: c.FILES_CLAMD_HOST, port: c.FILES_CLAMD_PORT, timeoutMs: c.FILES_CLAMD_TIMEOUT_MS });
    // clamd down at boot is not fatal: scans wait in the queue and retry until it answers.
    await client.ping().then(
      () => rt.log.info({ clamd: client.address }, 'clamd answers'),
      (err: unknown) => rt.log.warn({ err, clamd: client.address }, 'clamd does not answer yet; scans will retry'),
    );
    return client;
  },
});

function signingKeyFor(c: FilesConfig, webhookSecret: string | undefined): Buffer {
  if (!c.FILES_SIGNING_SECRET && !webhookSecret) throw new Error('FILES_SIGNING_SECRET or NSELF_PLUGINS_WEBHOOK_SECRET is needed to sign local URLs');
  return signingKey(c.FILES_SIGNING_SECRET, webhookSecret ?? '');
}
