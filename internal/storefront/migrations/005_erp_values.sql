-- What the ERP said of each row, kept beside what the storefront shows:
--   erp_price, erp_cost, erp_category: the ERP's values the pricing rules
--     read, so a row is priced again (new rules, a promotion starting)
--     without the ERP;
--   erp_quantity, priced_cents: what invsync wrote into quantity and
--     price_cents; a row where they differ was edited by hand;
--   erp_hash: the ERP's fingerprint of its row as read, so a reconcile
--     compares chunks of rows by a sum of fingerprints on each side;
--   deleted_at: when a reconcile found the row gone from the ERP
--     (discontinued; quantity 0). A row written again is restored.
-- Rows written before this are NULL here: a reconcile reads them again.
ALTER TABLE inventory
    ADD COLUMN erp_quantity bigint,
    ADD COLUMN erp_price    text,
    ADD COLUMN erp_cost     text,
    ADD COLUMN erp_category text,
    ADD COLUMN erp_hash     bigint,
    ADD COLUMN priced_cents bigint,
    ADD COLUMN deleted_at   timestamptz;

---- create above / drop below ----

ALTER TABLE inventory
    DROP COLUMN erp_quantity,
    DROP COLUMN erp_price,
    DROP COLUMN erp_cost,
    DROP COLUMN erp_category,
    DROP COLUMN erp_hash,
    DROP COLUMN priced_cents,
    DROP COLUMN deleted_at;
