import { definePlugin } from '../../core/plugin.js';
import { coreConfig } from './config.js';
import { coreVersion } from '../../../actions/core/core-version.js';
import { coreSelfTest } from '../../../actions/core/core-self-test.js';
import { coreSelftestRunInserted } from '../../../event-triggers/core/core-selftest-run-inserted.js';
import { coreHousekeeping } from '../../../cron-triggers/core/core-housekeeping.js';

export const corePlugin = definePlugin({
  name: 'core',
  version: '0.1.0',
  description: 'Suite health and version, an end-to-end installation self-test, and housekeeping of receipts and Hasura event logs.',
  config: coreConfig,
  tables: [
    {
      table: { schema: 'core', name: 'selftest_runs' },
      configuration: { custom_name: 'core_selftest_runs' },
      select_permissions: [
        {
          role: 'user',
          permission: {
            columns: ['id', 'note', 'created_at', 'delivered_at'],
            filter: { requested_by: { _eq: 'X-Hasura-User-Id' } },
          },
        },
      ],
      event_triggers: [
        {
          name: 'core_selftest_run_inserted',
          definition: { enable_manual: true, insert: { columns: '*' } },
          retry_conf: { num_retries: 5, interval_sec: 10, timeout_sec: 30 },
          handler: coreSelftestRunInserted,
        },
      ],
    },
  ],
  actions: {
    coreVersion: { handler: coreVersion, permissions: ['user'], timeout: 10 },
    coreSelfTest: { handler: coreSelfTest, permissions: ['user'], timeout: 10 },
  },
  crons: {
    core_housekeeping: {
      schedule: '17 3 * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 300, timeout_seconds: 300, tolerance_seconds: 21600 },
      comment: 'Prunes old event receipts, self-test runs and delivered Hasura event logs',
      handler: coreHousekeeping,
    },
  },
});
