drop table if exists nself_plugins.event_receipt;

-- Other foundation objects (the migrator's bookkeeping, queue tables) may live in this schema: drop it only
-- when nothing is left in it.
do $$
begin
  if exists (select 1 from pg_namespace where nspname = 'nself_plugins')
     and not exists (
       select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'nself_plugins'
       union all
       select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'nself_plugins'
       union all
       select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'nself_plugins'
     ) then
    drop schema nself_plugins;
  end if;
end $$;
