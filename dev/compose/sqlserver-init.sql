-- A demo ERP on SQL Server 2022, shaped like the PostgreSQL demo ERP:
-- database invsync_erp, view dbo.v_inventory (sku, quantity, price, cost,
-- category, last_modified), and a login that may only read the view.
-- last_modified is a datetime on purpose: its 3.33 ms ticks are the classic
-- trap for polling syncs, and invsync must page through it exactly.
IF DB_ID('invsync_erp') IS NULL CREATE DATABASE invsync_erp;
GO
USE invsync_erp;
GO
IF OBJECT_ID('dbo.erp_items') IS NULL
CREATE TABLE dbo.erp_items (
    sku           nvarchar(100) NOT NULL PRIMARY KEY,
    quantity      int NULL,
    price         decimal(12,2) NULL,
    cost          decimal(12,2) NULL,
    category      nvarchar(50) NULL,
    last_modified datetime NOT NULL DEFAULT GETDATE()
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'erp_items_last_modified')
CREATE INDEX erp_items_last_modified ON dbo.erp_items (last_modified, sku);
GO
CREATE OR ALTER TRIGGER dbo.erp_items_touch ON dbo.erp_items AFTER UPDATE AS
BEGIN
    SET NOCOUNT ON;
    IF TRIGGER_NESTLEVEL() > 1 RETURN;
    UPDATE i SET last_modified = GETDATE()
    FROM dbo.erp_items i JOIN inserted n ON n.sku = i.sku;
END;
GO
CREATE OR ALTER VIEW dbo.v_inventory AS
    SELECT sku, quantity, price, cost, category, last_modified FROM dbo.erp_items;
GO
IF NOT EXISTS (SELECT 1 FROM dbo.erp_items)
INSERT INTO dbo.erp_items (sku, quantity, price, cost, category)
SELECT CONCAT('SKU-', RIGHT(CONCAT('0000000', n), 7)),
       (n * 7919) % 500,
       ((n * 104729) % 100000) / 100.0 + 0.99,
       ((n * 104729) % 100000) / 200.0,
       CONCAT('group-', n % 20)
FROM (SELECT TOP (10000) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n
      FROM sys.all_objects a CROSS JOIN sys.all_objects b) g;
GO
IF SUSER_ID('invsync_reader') IS NULL
CREATE LOGIN invsync_reader WITH PASSWORD = 'Invsync-Reader-2026!', CHECK_POLICY = OFF;
GO
IF USER_ID('invsync_reader') IS NULL
CREATE USER invsync_reader FOR LOGIN invsync_reader;
GO
GRANT SELECT ON dbo.v_inventory TO invsync_reader;
GO
IF DB_ID('invsync_contract') IS NULL CREATE DATABASE invsync_contract;
GO
