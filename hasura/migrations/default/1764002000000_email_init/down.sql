drop table if exists email.suppression;
drop table if exists email.event;
drop table if exists email.message;
drop table if exists email.template;
drop table if exists email.layout;
drop schema if exists email;
