-- Databases of the local setup: the demo ERP and the storefront.
-- `go run ./dev/cmd/demoerp setup` creates and seeds the demo ERP's view.
CREATE DATABASE invsync_erp;
CREATE DATABASE invsync_store;
