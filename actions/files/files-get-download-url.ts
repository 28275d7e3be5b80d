import type { ActionHandler } from '../../src/core/plugin.js';
import type { FilesConfig } from '../../src/plugins/files/config.js';
import { filesError } from '../../src/plugins/files/lib/errors.js';
import { actorOf, downloadInput, parseInput } from '../../src/plugins/files/lib/input.js';
import { downloadExpiry, originalDownloadable, thumbnailOf } from '../../src/plugins/files/lib/output.js';
import { filesStorage } from '../../src/plugins/files/lib/services.js';
import { visibleFile } from '../../src/plugins/files/lib/store.js';
import type { FilesDownload } from '../../src/generated/actions.js';

/**
 * Signs a short-lived URL for a file the caller may read (own, or ready in a public bucket). A quarantined
 * file is never signed — not its original, not a variant.
 */
export const filesGetDownloadUrl: ActionHandler<unknown, FilesDownload, FilesConfig> = async (input, ctx) => {
  const args = parseInput(downloadInput, input);
  const found = await visibleFile(ctx.db, args.id, actorOf(ctx.session));
  if (!found) throw filesError('files/not-found');
  const { file, bucket } = found;
  if (file.status === 'quarantined' || file.scan_result === 'infected') throw filesError('files/quarantined');
  if (file.status === 'failed') throw filesError('files/upload-failed', `this file was rejected: ${file.failure_reason ?? 'unknown reason'}`);
  if (!originalDownloadable(file, ctx.features)) throw filesError('files/not-ready', `the file is ${file.status}`);

  const expiresInSeconds = downloadExpiry(bucket, ctx.config, args.expiresIn);
  const disposition = args.disposition ?? 'inline';
  let key = file.object_key;
  let contentType = file.mime_type ?? file.declared_mime_type;
  let size = Number(file.size);
  let variant: string | null = null;
  let filename = file.name;
  if (args.variant) {
    const v = args.variant === 'thumbnail' ? thumbnailOf(file.variants) : file.variants.find((x) => x.name === args.variant || (x.kind !== 'image' && args.variant === x.kind && x.format === 'webp'));
    if (!v) throw filesError('files/unknown-variant', `no variant "${args.variant}"; this file has ${file.variants.map((x) => x.name).join(', ') || 'none'}`);
    key = v.key;
    contentType = `image/${v.format}`;
    size = v.size;
    variant = v.name;
    filename = `${file.name.replace(/\.[^.]*$/, '')}.${v.name}`;
  }
  const storage = ctx.service(filesStorage);
  const url = await storage.downloadUrl({ key, expiresInSeconds, contentType, disposition, filename, cacheControl: bucket.cache_control });
  return {
    id: file.id,
    url,
    expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
    mimeType: contentType,
    size,
    name: file.name,
    variant,
  };
};
