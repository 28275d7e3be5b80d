/**
 * `nself-plugins/testing`: a stand-in for the parts of Hasura that call your handlers — event triggers on real
 * tables, actions from GraphQL documents, cron triggers, and role permissions — for tests that cannot run the
 * engine. See README.md beside this file.
 */
export { createHasuraHarness } from './harness.js';
export type {
  DrainOptions,
  EventLogRow,
  FiredCron,
  HarnessOptions,
  HasuraHarness,
  InvocationLogRow,
  WithSessionOptions,
} from './harness.js';
export type { GraphQLErrorJson, GraphQLResult } from './actions.js';
export type { CronEventState, CronEventStatus } from './cron.js';
export { HarnessClock } from './clock.js';
export { HarnessConfigError, HarnessUnsupportedError, HasuraError } from './errors.js';
export { metadataFromJson, readMetadataDir, resolveIncludes } from './metadata.js';
export type { HasuraMetadata, QualifiedTable } from './metadata.js';
export type { SessionInput, SessionVariables } from './session.js';
export { toSessionVariables } from './session.js';
