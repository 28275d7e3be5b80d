/**
 * A file processing cannot succeed with, whatever the retries: corrupt or hostile bytes, a decompression
 * bomb, a tool refusing the input. The file ends `failed` with this reason; the worker is unharmed.
 */
export class ProcessingRefused extends Error {
  override name = 'ProcessingRefused';
}
