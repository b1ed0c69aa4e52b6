-- CSV imports keep the file as it was uploaded and read it with one encoding the person can change
-- on the mapping step (issue #10 item 8). Before this, the file was normalized to UTF-8 on upload.
--
-- `detected_encoding` is what the upload's detection found; `encoding` is what the file is read
-- with (the detected one until the person chooses another); `invalid_utf8` counts the invalid
-- UTF-8 sequences found on upload (each shown as U+FFFD when the file is read as UTF-8).

alter table imports add column detected_encoding text;
alter table imports add column invalid_utf8 bigint not null default 0 check (invalid_utf8 >= 0);
update imports set detected_encoding = encoding;
-- Files stored before this migration were already converted to UTF-8: they are read as UTF-8.
update imports set encoding = 'utf-8' where encoding <> 'utf-8';
alter table imports alter column detected_encoding set not null;
alter table imports drop constraint imports_encoding_check;
alter table imports add constraint imports_encoding_check
    check (encoding in ('utf-8', 'utf-8-bom', 'windows-1252', 'iso-8859-15', 'macintosh'));
alter table imports add constraint imports_detected_encoding_check
    check (detected_encoding in ('utf-8', 'utf-8-bom', 'windows-1252', 'iso-8859-15', 'macintosh'));
