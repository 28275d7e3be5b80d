-- files: buckets (limits, MIME allow-list, variants, quotas) and file records (status the client subscribes to).
create schema if not exists files;

create table if not exists files.bucket (
  id                 text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  -- public: every signed-in user may read the bucket's ready files (their rows and download URLs)
  public             boolean not null default false,
  min_size           bigint not null default 1 check (min_size >= 0),
  max_size           bigint not null default 52428800 check (max_size >= 1),
  -- MIME patterns (`image/*`, `application/pdf`); empty: any type
  allowed_mime_types text[] not null default '{}',
  -- lifetime of upload and download URLs, 1 s to 7 days (S3's own limit for presigned URLs)
  url_expires_in     integer not null default 300 check (url_expires_in between 1 and 604800),
  -- variant widths (bounding box of `size`×`size`) and formats made for images, video posters and PDF previews
  variant_sizes      integer[] not null default '{320,1280}',
  variant_formats    text[] not null default '{webp,avif}',
  -- inside: keep the aspect ratio; cover: square crops (avatars)
  variant_fit        text not null default 'inside' check (variant_fit in ('inside', 'cover')),
  -- bytes one user may keep in the bucket; null: no quota
  user_quota         bigint check (user_quota is null or user_quota >= 0),
  cache_control      text not null default 'private, max-age=300',
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  check (min_size <= max_size),
  check (variant_formats <@ array['webp', 'avif', 'jpeg', 'png']::text[]),
  check (cardinality(variant_sizes) <= 8)
);

insert into files.bucket (id, public, max_size, allowed_mime_types, url_expires_in, variant_sizes, variant_formats, variant_fit, user_quota)
values
  ('default', false, 104857600, '{}', 300, '{320,1280}', '{webp,avif}', 'inside', null),
  ('avatars', true, 5242880, '{image/jpeg,image/png,image/webp,image/gif,image/avif}', 3600,
   '{64,128,256,512}', '{webp,avif}', 'cover', 20971520)
on conflict (id) do nothing;

create table if not exists files.file (
  id                 uuid primary key default gen_random_uuid(),
  bucket_id          text not null references files.bucket (id) on update cascade on delete restrict,
  owner_id           text not null,
  name               text not null check (char_length(name) between 1 and 255),
  -- what the client said, and what the bytes are (file-type), once uploaded
  declared_mime_type text not null,
  mime_type          text,
  size               bigint not null check (size >= 0),
  sha256             text,
  etag               text,
  object_key         text not null unique,
  upload_id          text,
  part_size          bigint,
  status             text not null default 'pending'
                     check (status in ('pending', 'uploaded', 'processing', 'ready', 'quarantined', 'failed')),
  failure_reason     text,
  scan_result        text check (scan_result in ('clean', 'infected')),
  virus_name         text,
  -- [{name, kind, format, width, height, size, key}]: kind is image, poster or preview
  variants           jsonb not null default '[]',
  blurhash           text,
  width              integer,
  height             integer,
  duration_seconds   double precision,
  pages              integer,
  metadata           jsonb not null default '{}',
  expires_at         timestamptz,
  uploaded_at        timestamptz,
  scanned_at         timestamptz,
  processed_at       timestamptz,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  deleted_at         timestamptz,
  purged_at          timestamptz
);

-- quota sums and "my files" lists
create index if not exists files_file_owner_idx on files.file (owner_id, bucket_id) where deleted_at is null;
-- the expiry crons
create index if not exists files_file_pending_idx on files.file (expires_at) where status = 'pending' and deleted_at is null;
create index if not exists files_file_bucket_idx on files.file (bucket_id, created_at desc) where deleted_at is null;

create or replace function files.touch_updated_at() returns trigger language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;

drop trigger if exists files_file_touch on files.file;
create trigger files_file_touch before update on files.file for each row execute function files.touch_updated_at();
drop trigger if exists files_bucket_touch on files.bucket;
create trigger files_bucket_touch before update on files.bucket for each row execute function files.touch_updated_at();
