-- Dead letters: rows and messages the pipeline gave up on, with the reason.
-- They live here rather than only on a queue so that reading them never
-- consumes or loses one. id is stable (a row version, or a message body's
-- hash): the same failure read twice is one letter.
CREATE TABLE dead_letters (
    id             text        PRIMARY KEY,
    stage          text        NOT NULL,
    reason_code    text        NOT NULL,
    reason         text        NOT NULL,
    sku            text        NOT NULL DEFAULT '',
    batch_id       text        NOT NULL DEFAULT '',
    erp_cursor     jsonb,
    attempts       integer     NOT NULL DEFAULT 1,
    payload        bytea       NOT NULL,
    payload_size   integer     NOT NULL,
    payload_sha256 text        NOT NULL,
    first_at       timestamptz NOT NULL DEFAULT now(),
    last_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_last_at ON dead_letters (last_at DESC, id);
CREATE INDEX dead_letters_reason ON dead_letters (reason_code);

---- create above / drop below ----

DROP TABLE dead_letters;
