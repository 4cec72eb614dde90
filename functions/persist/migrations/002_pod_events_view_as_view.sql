-- pod_events_view becomes a view over persist_events (issue 9). As a table it repeated each classified
-- event's columns in a second heap with a primary key, three indexes and a foreign-key check, all written
-- inside every group commit: about a fifth of PostgreSQL's CPU per stored event, for rows that
-- persist_events already holds. The view has the same columns and rows (one per classified event with a
-- severity), plus `severity`, so that a status filter can use persist_events' severity index. The
-- compatibility routes are served by persist_events' own indexes (docs/PERSIST.md, "Indexes and why").
DROP TABLE pod_events_view;
CREATE VIEW pod_events_view AS
  SELECT seq AS event_seq, id, namespace, coalesce(kind, '') AS kind, coalesce(name, '') AS pod,
    coalesce(reason, '') AS reason, coalesce(message, '') AS message, occurred_at AS event_time,
    CASE severity WHEN 'critical' THEN 'CRITICAL' WHEN 'warning' THEN 'WARNING' ELSE 'NORMAL' END AS status,
    severity
  FROM persist_events
  WHERE type = 'dev.kubereflex.event.classified' AND severity IS NOT NULL;
