-- jobs plugin: durable history of jobs that failed for good. BullMQ's own failed set is trimmed by age and
-- count (so Redis stays bounded); this table keeps what failed, why and with which data, for Hasura queries
-- and for redriving a job after the queue has forgotten it.
CREATE SCHEMA IF NOT EXISTS jobs;

CREATE TABLE IF NOT EXISTS jobs.dead_letter (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL,
  job_id text NOT NULL,
  name text NOT NULL,
  data jsonb,
  failed_reason text NOT NULL,
  stacktrace jsonb NOT NULL DEFAULT '[]'::jsonb,
  attempts_made integer NOT NULL,
  created_at timestamptz NOT NULL,
  failed_at timestamptz NOT NULL,
  redriven_at timestamptz,
  -- One row per failure even when two listeners report it.
  CONSTRAINT dead_letter_failure_key UNIQUE (queue, job_id, failed_at)
);

CREATE INDEX IF NOT EXISTS dead_letter_failed_at_idx ON jobs.dead_letter (failed_at);

COMMENT ON TABLE jobs.dead_letter IS 'Jobs that failed for good (attempts exhausted, unrecoverable, cancelled); pruned by the jobs_prune_dead_letters cron.';
