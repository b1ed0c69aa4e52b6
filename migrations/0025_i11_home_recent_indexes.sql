-- The home page's "recent activity on my records" (issue #11) reads an organization's latest
-- events of the last 30 days: history rows, notes, tasks and activities. Their only indexes start
-- with (org_id, <record>) or the primary key, so that read scanned every row of the organization;
-- these let it read just the recent ones. (Numbered 0025: 0024 is taken by another issue #11 branch.)
create index record_changes_recent on record_changes (org_id, changed_at);
create index notes_recent on notes (org_id, created_at);
create index tasks_recent on tasks (org_id, created_at);
create index activities_recent on activities (org_id, occurred_at);
