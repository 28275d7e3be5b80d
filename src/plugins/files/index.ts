/**
 * The files plugin's public API for other plugins:
 *
 *   import { filesStorage } from '<path>/plugins/files/index.js';
 *   const storage = ctx.service(filesStorage);           // in a plugin that dependsOn ['files']
 *   const url = await storage.downloadUrl({ key, … });
 */
export { filesStorage, filesClamd } from './lib/services.js';
export type { StorageDriver, UploadTarget, ObjectStat, DownloadRequest, CompletedPart } from './lib/storage/driver.js';
export { keys as objectKeys, contentDisposition } from './lib/storage/driver.js';
export { ClamdClient, ClamdError, ClamdUnavailable, type ScanVerdict } from './lib/clamd.js';
export { FILES_ERRORS } from './lib/errors.js';
export type { FileRow, BucketRow, FileStatus, Variant } from './lib/store.js';
export { scanJob, digestJob, imageJob, videoJob, documentJob } from './lib/jobs.js';
export type { FilesConfig } from './config.js';
