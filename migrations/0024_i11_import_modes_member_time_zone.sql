-- Issue #11 ("import with real French data", "show the member's time zone").
--
-- `mode` says what an import does to a record that already has the row's key (email or domain):
-- `create_only` leaves it as it is, `fill_empty` (the default) writes only the fields it has empty,
-- `overwrite` writes every mapped, non-empty cell (what imports did before this).
-- `warning_count` counts the rows kept with a warning (a phone number that could not be read is kept
-- as a note on the record); `import_rejects.kind = 'warning'` lists them with the rejects.
alter table imports add column mode text not null default 'fill_empty'
    check (mode in ('create_only', 'fill_empty', 'overwrite'));
alter table imports add column warning_count bigint not null default 0 check (warning_count >= 0);
alter table import_rejects drop constraint import_rejects_kind_check;
alter table import_rejects add constraint import_rejects_kind_check check (kind in ('error', 'duplicate', 'warning'));

-- The member's time zone (an IANA name, checked by the application against the tz database), in
-- which pages show dates and times. Europe/Paris until they choose: Relais serves European teams
-- first, as the default phone region (FR) does.
alter table users add column time_zone text not null default 'Europe/Paris' check (length(time_zone) between 1 and 64);
