-- Favourite assets (§4.5 `/assets/favorite-assets/`): a user's bookmarks among the assets they
-- are granted. Kept aligned line by line with migrations/postgres/0005_favorite_assets.sql.

-- One bookmark. The grant is checked when it is made; the lists show only the ones still
-- granted, so a revoked permission hides a favourite without deleting it. Deleting the user
-- or the asset deletes the bookmark.
CREATE TABLE favorite_assets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    date_created INTEGER NOT NULL,
    UNIQUE (user_id, asset_id)
);
CREATE INDEX favorite_assets_asset ON favorite_assets (asset_id);
