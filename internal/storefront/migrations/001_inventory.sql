-- The storefront's view of ERP stock and price. A row's version is the ERP's
-- own LastModified (erp_modified), with observed_at (the ERP clock of the read
-- that saw it) as tie-break; synced_at is when this row was last written.
CREATE TABLE inventory (
    sku          text        PRIMARY KEY CHECK (char_length(sku) BETWEEN 1 AND 64),
    quantity     bigint      NOT NULL CHECK (quantity >= 0),
    price_cents  bigint      NOT NULL CHECK (price_cents >= 0),
    erp_modified timestamptz NOT NULL,
    observed_at  timestamptz NOT NULL,
    synced_at    timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE inventory;
