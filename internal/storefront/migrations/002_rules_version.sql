-- The pricing rules (a hash of the rules file) that set each row's price, and
-- negative quantities for stock on backorder (when the validation rules
-- allow them).
ALTER TABLE inventory ADD COLUMN rules_version text NOT NULL DEFAULT '';
ALTER TABLE inventory DROP CONSTRAINT inventory_quantity_check;

---- create above / drop below ----

ALTER TABLE inventory ADD CONSTRAINT inventory_quantity_check CHECK (quantity >= 0);
ALTER TABLE inventory DROP COLUMN rules_version;
