import { defineErrors } from '../../../core/errors.js';

export const CORE_ERRORS = defineErrors({
  'core/note-too-long': { status: 400, message: 'note must be at most 500 characters' },
  'core/no-user': { status: 400, message: 'a self-test needs a session with x-hasura-user-id (or the admin role)' },
});
