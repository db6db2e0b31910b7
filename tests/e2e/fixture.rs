//! Writes test data straight into the schema, the way the API will, so store and engine
//! tests do not depend on the REST layer.

use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_core::vault::{SealContext, Vault};
use sqlx::AnyConnection;
use uuid::Uuid;

/// Microseconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A connection plus helpers that insert rows into the Default org.
pub struct Fixture {
    /// The connection.
    pub conn: AnyConnection,
    /// The org rows go to.
    pub org: Uuid,
}

impl Fixture {
    /// Connects to a migrated and seeded database.
    pub async fn new(url: &str) -> Fixture {
        sqlx::any::install_default_drivers();
        let conn = <AnyConnection as sqlx::Connection>::connect(url)
            .await
            .expect("connect");
        Fixture {
            conn,
            org: DEFAULT_ORG_ID,
        }
    }

    /// A node with an explicit key, e.g. `1:2:3`.
    pub async fn node(&mut self, key: &str, value: &str) -> Uuid {
        let id = Uuid::new_v4();
        let parent = key.rsplit_once(':').map(|(p, _)| p).unwrap_or("");
        sqlx::query("INSERT INTO nodes (id, org_id, key, value, parent_key, date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(id.to_string())
            .bind(self.org.to_string())
            .bind(key)
            .bind(value)
            .bind(parent)
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert node");
        id
    }

    /// The id of an existing user by username: tests make users through `create_user` (the
    /// CLI), which prints no id, and then need it to name the user in rows they insert.
    pub async fn user_id(&mut self, username: &str) -> Uuid {
        let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_one(&mut self.conn)
            .await
            .expect("user by username");
        Uuid::parse_str(&id).expect("uuid")
    }

    /// The id of an existing node by key.
    pub async fn node_id(&mut self, key: &str) -> Uuid {
        let id: String = sqlx::query_scalar("SELECT id FROM nodes WHERE org_id = $1 AND key = $2")
            .bind(self.org.to_string())
            .bind(key)
            .fetch_one(&mut self.conn)
            .await
            .expect("node by key");
        Uuid::parse_str(&id).expect("uuid")
    }

    /// A Linux host with ssh/sftp on 22, in the given nodes.
    pub async fn asset(&mut self, name: &str, nodes: &[Uuid]) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated) VALUES ($1, $2, $3, $4, 1, 'host', 'linux', $5, $5)")
            .bind(id.to_string())
            .bind(self.org.to_string())
            .bind(name)
            .bind(format!("10.0.0.{}", name.len()))
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert asset");
        for proto in [("ssh", 22i64), ("sftp", 22)] {
            sqlx::query("INSERT INTO asset_protocols (asset_id, name, port) VALUES ($1, $2, $3)")
                .bind(id.to_string())
                .bind(proto.0)
                .bind(proto.1)
                .execute(&mut self.conn)
                .await
                .expect("insert protocol");
        }
        for n in nodes {
            self.put_in_node(id, *n).await;
        }
        id
    }

    /// Adds an asset to a node.
    pub async fn put_in_node(&mut self, asset: Uuid, node: Uuid) {
        sqlx::query("INSERT INTO asset_nodes (asset_id, node_id) VALUES ($1, $2)")
            .bind(asset.to_string())
            .bind(node.to_string())
            .execute(&mut self.conn)
            .await
            .expect("insert asset_nodes");
    }

    /// An account on an asset with a secret sealed by `vault`.
    pub async fn account(
        &mut self,
        vault: &Vault,
        asset: Uuid,
        username: &str,
        secret: &str,
    ) -> Uuid {
        let id = Uuid::new_v4();
        let sealed = vault.seal(&secret.into(), &SealContext::new("accounts", "secret", id));
        sqlx::query("INSERT INTO accounts (id, org_id, asset_id, name, username, secret_type, secret, date_created, date_updated) VALUES ($1, $2, $3, $4, $4, 'password', $5, $6, $6)")
            .bind(id.to_string())
            .bind(self.org.to_string())
            .bind(asset.to_string())
            .bind(username)
            .bind(sealed)
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert account");
        id
    }

    /// A local user.
    pub async fn user(&mut self, username: &str) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO users (id, name, username, email, date_joined, date_created, date_updated) VALUES ($1, $2, $2, $3, $4, $4, $4)")
            .bind(id.to_string())
            .bind(username)
            .bind(format!("{username}@example.com"))
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert user");
        id
    }

    /// A user group with members.
    pub async fn group(&mut self, name: &str, members: &[Uuid]) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO user_groups (id, org_id, name, date_created, date_updated) VALUES ($1, $2, $3, $4, $4)")
            .bind(id.to_string())
            .bind(self.org.to_string())
            .bind(name)
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert group");
        for m in members {
            sqlx::query("INSERT INTO user_group_members (user_group_id, user_id) VALUES ($1, $2)")
                .bind(id.to_string())
                .bind(m.to_string())
                .execute(&mut self.conn)
                .await
                .expect("insert member");
        }
        id
    }

    /// An asset permission valid from `start` to `end` (microseconds).
    #[allow(clippy::too_many_arguments)]
    pub async fn permission(
        &mut self,
        name: &str,
        users: &[Uuid],
        groups: &[Uuid],
        assets: &[Uuid],
        nodes: &[Uuid],
        accounts: &[&str],
        actions: i64,
        window: (i64, i64),
    ) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO asset_permissions (id, org_id, name, date_start, date_expired, accounts, protocols, actions, date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, '[\"all\"]', $7, $8, $8)")
            .bind(id.to_string())
            .bind(self.org.to_string())
            .bind(name)
            .bind(window.0)
            .bind(window.1)
            .bind(serde_json::to_string(accounts).expect("json"))
            .bind(actions)
            .bind(now())
            .execute(&mut self.conn)
            .await
            .expect("insert permission");
        for (table, col, ids) in [
            ("perm_users", "user_id", users),
            ("perm_user_groups", "user_group_id", groups),
            ("perm_assets", "asset_id", assets),
            ("perm_nodes", "node_id", nodes),
        ] {
            for other in ids {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} (permission_id, {col}) VALUES ($1, $2)"
                )))
                .bind(id.to_string())
                .bind(other.to_string())
                .execute(&mut self.conn)
                .await
                .expect("insert relation");
            }
        }
        id
    }

    /// A window that is open now and for a long time.
    pub fn always() -> (i64, i64) {
        (now() - 3_600_000_000, now() + 3_600_000_000 * 24 * 365)
    }
}
