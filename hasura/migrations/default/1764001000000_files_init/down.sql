drop table if exists files.file;
drop table if exists files.bucket;
drop function if exists files.touch_updated_at();
drop schema if exists files;
