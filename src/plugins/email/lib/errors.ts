import { ActionError, defineErrors } from '../../../core/errors.js';

export const EMAIL_ERRORS = defineErrors({
  'email/invalid-input': { status: 400, message: 'invalid input' },
  'email/invalid-address': { status: 400, message: 'invalid email address' },
  'email/too-many-recipients': { status: 400, message: 'too many recipients' },
  'email/unknown-template': { status: 404, message: 'no template with this key (in this locale or its fallbacks)' },
  'email/invalid-template': { status: 400, message: 'the template does not compile' },
  'email/invalid-schema': { status: 400, message: 'the variables schema is not a valid JSON Schema' },
  'email/invalid-variables': { status: 400, message: "data does not match the template's variables" },
  'email/missing-variable': { status: 400, message: 'the template uses a variable that data does not give' },
  'email/unknown-layout': { status: 404, message: 'no layout with this key' },
  'email/content-required': { status: 400, message: 'give a template, or a subject with html or text' },
  'email/attachments-unavailable': { status: 400, message: 'attachments by file id need the files plugin' },
  'email/attachment-not-found': { status: 404, message: 'no readable file with this id' },
  'email/attachments-too-large': { status: 413, message: 'the attachments exceed the size limit' },
  'email/idempotency-conflict': { status: 409, message: 'this idempotency key was used for a different message' },
});

export type EmailErrorCode = keyof typeof EMAIL_ERRORS;

export function emailError(code: EmailErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(EMAIL_ERRORS, code, detail, extensions);
}
