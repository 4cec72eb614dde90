-- persist's event store (docs/PERSIST.md). Append-only events keyed by (source, id), and the projections
-- that the same transaction keeps up to date. Index choices are documented in docs/PERSIST.md.

CREATE TABLE persist_events (
  seq          bigserial PRIMARY KEY,
  source       text        NOT NULL,
  id           text        NOT NULL,
  type         text        NOT NULL,
  subject      text,
  time         timestamptz,
  -- When the described occurrence happened (classified data.lastTime, else the event's time, else receipt):
  -- the timeline, the filters `since`/`until`, pagination and retention all use this one column.
  occurred_at  timestamptz NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  severity     text,
  category     text,
  action       text,
  reason       text,
  namespace    text,
  kind         text,
  name         text,
  message      text,
  fingerprint  text,
  event        jsonb       NOT NULL,
  CONSTRAINT persist_events_source_id UNIQUE (source, id)
);
CREATE INDEX persist_events_timeline ON persist_events (occurred_at DESC, seq DESC);
CREATE INDEX persist_events_namespace ON persist_events (namespace, occurred_at DESC, seq DESC);
CREATE INDEX persist_events_severity ON persist_events (severity, occurred_at DESC, seq DESC);
CREATE INDEX persist_events_category ON persist_events (category, occurred_at DESC, seq DESC);
CREATE INDEX persist_events_object ON persist_events (kind, name, occurred_at DESC);
CREATE INDEX persist_events_fingerprint ON persist_events (fingerprint, occurred_at DESC);

-- The original design's read model: one row per classified occurrence.
CREATE TABLE pod_events_view (
  event_seq    bigint      PRIMARY KEY REFERENCES persist_events (seq) ON DELETE CASCADE,
  id           text        NOT NULL,
  namespace    text,
  kind         text        NOT NULL,
  pod          text        NOT NULL,
  reason       text        NOT NULL,
  message      text        NOT NULL,
  event_time   timestamptz NOT NULL,
  status       text        NOT NULL CHECK (status IN ('CRITICAL', 'WARNING', 'NORMAL'))
);
CREATE INDEX pod_events_view_time ON pod_events_view (event_time DESC, event_seq DESC);
CREATE INDEX pod_events_view_namespace ON pod_events_view (namespace, event_time DESC, event_seq DESC);
CREATE INDEX pod_events_view_status ON pod_events_view (status, event_time DESC, event_seq DESC);

-- "What is wrong right now": one row per fingerprint (same problem on the same workload). Alert and
-- recovery replies may be stored before the classified event they answer, so every column but the key
-- is nullable and each upsert keeps the newest value by its own timestamp.
CREATE TABLE persist_problems (
  fingerprint           text PRIMARY KEY,
  namespace             text,
  kind                  text,
  name                  text,
  subject               text,
  category              text,
  severity              text,
  reason                text,
  message               text,
  first_seen            timestamptz,
  last_seen             timestamptz,
  occurrences           integer NOT NULL DEFAULT 0,
  last_alert_outcome    text,
  last_alert_at         timestamptz,
  alerts_sent           integer NOT NULL DEFAULT 0,
  last_recovery_outcome text,
  last_recovery_action  text,
  last_recovery_at      timestamptz
);
CREATE INDEX persist_problems_last_seen ON persist_problems (last_seen DESC, fingerprint);

-- Counts per hour bucket, for /api/v1/stats and the dashboard chart without scanning events.
CREATE TABLE persist_event_counts (
  bucket     timestamptz NOT NULL,
  namespace  text        NOT NULL,
  category   text        NOT NULL,
  severity   text        NOT NULL,
  count      integer     NOT NULL,
  PRIMARY KEY (bucket, namespace, category, severity)
);

-- Transactional outbox for the Kafka archive: written with the event, published by the relay.
CREATE TABLE persist_outbox (
  seq           bigserial PRIMARY KEY,
  event_seq     bigint      NOT NULL,
  key           text,
  event         jsonb       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  claimed_until timestamptz,
  sent_at       timestamptz
);
CREATE INDEX persist_outbox_unsent ON persist_outbox (seq) WHERE sent_at IS NULL;

-- Events the Broker could not deliver (deadLetterSink), with Knative's error extensions.
CREATE TABLE persist_dead_letters (
  seq          bigserial PRIMARY KEY,
  source       text        NOT NULL,
  id           text        NOT NULL,
  type         text        NOT NULL,
  error_dest   text        NOT NULL DEFAULT '',
  error_code   text,
  error_data   text,
  received_at  timestamptz NOT NULL DEFAULT now(),
  event        jsonb       NOT NULL,
  CONSTRAINT persist_dead_letters_key UNIQUE (source, id, error_dest)
);
CREATE INDEX persist_dead_letters_received ON persist_dead_letters (received_at DESC, seq DESC);
