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
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO page_generation (id, value) VALUES (1, 0);

CREATE FUNCTION bump_page_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE page_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER page_gen_perm_generation AFTER UPDATE ON perm_generation FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_assets AFTER INSERT OR UPDATE OR DELETE ON assets FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_asset_nodes AFTER INSERT OR UPDATE OR DELETE ON asset_nodes FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_nodes AFTER INSERT OR UPDATE OR DELETE ON nodes FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_asset_protocols AFTER INSERT OR UPDATE OR DELETE ON asset_protocols FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_platforms AFTER INSERT OR UPDATE OR DELETE ON platforms FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_zones AFTER INSERT OR UPDATE OR DELETE ON zones FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_orgs AFTER INSERT OR UPDATE OR DELETE ON orgs FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_labels AFTER INSERT OR UPDATE OR DELETE ON labels FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
CREATE TRIGGER page_gen_labeled_resources AFTER INSERT OR UPDATE OR DELETE ON labeled_resources FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
-- accounts_amount counts an asset's accounts: only which asset an account belongs to matters.
CREATE TRIGGER page_gen_accounts AFTER INSERT OR UPDATE OF asset_id OR DELETE ON accounts FOR EACH STATEMENT EXECUTE FUNCTION bump_page_generation();
