import { ActionError, defineErrors } from '../../../core/errors.js';

export const FILES_ERRORS = defineErrors({
  'files/invalid-input': { status: 400, message: 'invalid input' },
  'files/no-user': { status: 401, message: 'this action needs a user session (x-hasura-user-id)' },
  'files/unknown-bucket': { status: 404, message: 'no bucket with this id' },
  'files/invalid-name': { status: 400, message: 'invalid file name' },
  'files/invalid-type': { status: 400, message: 'invalid MIME type' },
  'files/type-not-allowed': { status: 415, message: 'this bucket does not accept this type of file' },
  'files/type-mismatch': { status: 415, message: 'the bytes are not of the declared type' },
  'files/too-large': { status: 413, message: 'the file is larger than the bucket allows' },
  'files/too-small': { status: 400, message: 'the file is smaller than the bucket allows' },
  'files/size-mismatch': { status: 400, message: 'the uploaded size differs from the declared size' },
  'files/quota-exceeded': { status: 403, message: 'this upload would exceed your quota in this bucket' },
  'files/not-found': { status: 404, message: 'no file with this id' },
  'files/not-pending': { status: 409, message: 'the upload is already complete' },
  'files/not-multipart': { status: 409, message: 'this upload is not a multipart upload' },
  'files/invalid-parts': { status: 400, message: 'the parts do not match what was uploaded' },
  'files/upload-missing': { status: 409, message: 'no bytes were uploaded for this file' },
  'files/upload-failed': { status: 409, message: 'this upload was rejected' },
  'files/not-ready': { status: 409, message: 'the file is not ready to download yet' },
  'files/quarantined': { status: 403, message: 'the file was quarantined by the virus scan' },
  'files/unknown-variant': { status: 404, message: 'the file has no such variant' },
});

export type FilesErrorCode = keyof typeof FILES_ERRORS;

export function filesError(code: FilesErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(FILES_ERRORS, code, detail, extensions);
}
