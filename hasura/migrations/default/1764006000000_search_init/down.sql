drop schema if exists search cascade;
