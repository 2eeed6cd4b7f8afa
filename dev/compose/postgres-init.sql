-- Databases of the local setup: the demo ERP, the storefront, and Temporal's
-- persistence and visibility stores (docker-compose's temporal-schema job
-- creates their tables). Run once, when the data volume is new.
-- `go run ./dev/cmd/demoerp setup` creates and seeds the demo ERP's view.
CREATE DATABASE invsync_erp;
CREATE DATABASE invsync_store;
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
