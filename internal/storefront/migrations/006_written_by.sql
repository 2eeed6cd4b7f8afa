-- What last wrote each row, so an operator can explain it:
--   written_by: the workflow that wrote it last: the ApplyChanges workflow
--     (its ID is the batch's) for a change from the ERP, the Reprice
--     workflow for a new price, the Reconcile run for a row it fixed,
--     restored or discontinued, the ReplayDeadLetters operation for a
--     replayed letter;
--   reconcile_verdict, reconciled_at: what the last reconcile that wrote the
--     row found ("fixed: edited by hand", "discontinued: gone from the ERP",
--     "restored", ...) and when. They stay when a later change is applied:
--     they tell the row's last reconcile, not its last write.
-- Rows written before this are NULL here. Dead letters are looked up by
-- SKU too, to explain one.
ALTER TABLE inventory
    ADD COLUMN written_by        text,
    ADD COLUMN reconcile_verdict text,
    ADD COLUMN reconciled_at     timestamptz;
CREATE INDEX dead_letters_sku ON dead_letters (sku);

---- create above / drop below ----

DROP INDEX dead_letters_sku;
ALTER TABLE inventory
    DROP COLUMN written_by,
    DROP COLUMN reconcile_verdict,
    DROP COLUMN reconciled_at;
