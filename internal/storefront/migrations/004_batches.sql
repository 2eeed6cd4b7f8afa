-- Staged batches: the changes of each batch the consumers hand to Temporal,
-- kept here so that workflow histories carry a batch's ID and not its rows.
-- A consumer stages a batch before it starts the batch's workflow and
-- acknowledges the messages only after both, so a staged batch is the only
-- copy of its changes until it is applied. Applying it clears the changes
-- and keeps the outcome, which answers a retried activity the same way.
CREATE TABLE batches (
    id         text        PRIMARY KEY,
    rows       integer     NOT NULL,
    changes    bytea,
    outcome    bytea,
    staged_at  timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz
);
-- The changes are JSON written once and read once: compressing them would
-- cost more CPU than the bytes it saves.
ALTER TABLE batches ALTER COLUMN changes SET STORAGE EXTERNAL;
CREATE INDEX batches_applied_at ON batches (applied_at) WHERE applied_at IS NOT NULL;

---- create above / drop below ----

DROP TABLE batches;
