drop table if exists core.selftest_runs;
drop schema if exists core;
