-- Data generation of the cached list pages (host/api/src/page_cache.rs).
--
-- One-row counter that every write to a table the asset lists draw from bumps: the asset list
-- (`/api/v1/assets/<kind>/`) and the user's permitted assets (`/api/v1/perms/users/<u>/assets/`)
-- show assets with their org, platform, zone, nodes (and node paths), protocols, labels and
-- account count, and the permitted list follows the permission tables. A server keeps whole
-- answers per value of this counter and reads it on every request, so every process sharing
-- the database sees a write at once.
--
-- The permission tables (and assets, asset_nodes, nodes, users) already bump perm_generation;
-- a bump of perm_generation bumps this counter too, so those tables are covered by one trigger.
CREATE TABLE page_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO page_generation (id, value) VALUES (1, 0);

CREATE TRIGGER page_gen_perm_generation AFTER UPDATE ON perm_generation BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_assets_ins AFTER INSERT ON assets BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_assets_upd AFTER UPDATE ON assets BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_assets_del AFTER DELETE ON assets BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_nodes_ins AFTER INSERT ON asset_nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_nodes_upd AFTER UPDATE ON asset_nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_nodes_del AFTER DELETE ON asset_nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_nodes_ins AFTER INSERT ON nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_nodes_upd AFTER UPDATE ON nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_nodes_del AFTER DELETE ON nodes BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_protocols_ins AFTER INSERT ON asset_protocols BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_protocols_upd AFTER UPDATE ON asset_protocols BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_asset_protocols_del AFTER DELETE ON asset_protocols BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_platforms_ins AFTER INSERT ON platforms BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_platforms_upd AFTER UPDATE ON platforms BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_platforms_del AFTER DELETE ON platforms BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_zones_ins AFTER INSERT ON zones BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_zones_upd AFTER UPDATE ON zones BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_zones_del AFTER DELETE ON zones BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_orgs_ins AFTER INSERT ON orgs BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_orgs_upd AFTER UPDATE ON orgs BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_orgs_del AFTER DELETE ON orgs BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labels_ins AFTER INSERT ON labels BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labels_upd AFTER UPDATE ON labels BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labels_del AFTER DELETE ON labels BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labeled_resources_ins AFTER INSERT ON labeled_resources BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labeled_resources_upd AFTER UPDATE ON labeled_resources BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_labeled_resources_del AFTER DELETE ON labeled_resources BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
-- accounts_amount counts an asset's accounts: only which asset an account belongs to matters.
CREATE TRIGGER page_gen_accounts_ins AFTER INSERT ON accounts BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_accounts_upd AFTER UPDATE OF asset_id ON accounts BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER page_gen_accounts_del AFTER DELETE ON accounts BEGIN UPDATE page_generation SET value = value + 1 WHERE id = 1; END;
