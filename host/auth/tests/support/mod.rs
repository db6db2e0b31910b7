//! Test databases and fixtures: a real SQLite file per test, plus a fresh PostgreSQL database
//! when `PORTCULLIS_TEST_POSTGRES_URL` is set (as `tests/run.sh` does).

#![allow(dead_code)]

use std::net::IpAddr;

use portcullis_auth::{Auth, LoginFailure, LoginRequest, LoginSuccess, LoginType};
use portcullis_core::builtin::{DEFAULT_ORG_ID, ORG_USER_ROLE_ID, SYSTEM_USER_ROLE_ID};
use portcullis_core::secret::SecretString;
use portcullis_core::vault::{MasterKey, Vault};
use portcullis_store::Store;
use portcullis_store::users::NewUser;
use serde_json::Value;
use uuid::Uuid;

/// One migrated, seeded database and an `Auth` over it.
pub struct Db {
    pub name: &'static str,
    pub store: Store,
    pub vault: Vault,
    pub auth: Auth,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn open(name: &'static str, url: &str, dir: Option<tempfile::TempDir>) -> Db {
        let store = Store::connect(url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store.seed_builtins().await.expect("seed");
        let vault = Vault::new(MasterKey::generate(), vec![]);
        let auth = Auth::new(store.clone(), vault.clone());
        Db {
            name,
            store,
            vault,
            auth,
            _dir: dir,
        }
    }

    /// Creates a local user with the default roles; the password is `password`.
    pub async fn user(&self, username: &str, password: &str) -> Uuid {
        self.store
            .create_user(&NewUser {
                username: username.into(),
                name: format!("{username} name"),
                email: format!("{username}@example.com"),
                password: SecretString::new(password),
                system_role: SYSTEM_USER_ROLE_ID,
                org_role: Some((ORG_USER_ROLE_ID, DEFAULT_ORG_ID)),
                created_by: "test".into(),
                need_update_password: false,
            })
            .await
            .expect("create user")
    }

    pub async fn set(&self, name: &str, value: Value) {
        self.store
            .set_setting(name, "security", &value)
            .await
            .expect("set setting");
    }

    /// Runs a statement with text/integer/bool binds.
    pub async fn exec(&self, sql: &'static str, binds: &[Bind]) {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = match b {
                Bind::T(s) => q.bind(s.clone()),
                Bind::I(i) => q.bind(*i),
                Bind::B(v) => q.bind(*v),
            };
        }
        q.execute(self.store.pool()).await.expect(sql);
    }

    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: &str,
    ) -> Result<LoginSuccess, LoginFailure> {
        self.auth
            .login(&LoginRequest {
                username: username.into(),
                password: SecretString::new(password),
                ip: ip.parse::<IpAddr>().expect("ip"),
                user_agent: "test-agent/1.0".into(),
                login_type: LoginType::W,
                backend: "password".into(),
            })
            .await
    }

    pub async fn scalar_i64(&self, sql: &'static str, arg: &str) -> Option<i64> {
        sqlx::query_scalar::<_, Option<i64>>(sql)
            .bind(arg.to_owned())
            .fetch_optional(self.store.pool())
            .await
            .expect(sql)
            .flatten()
    }
}

/// A bind value for [`Db::exec`].
pub enum Bind {
    T(String),
    I(i64),
    B(bool),
}

pub fn t(s: impl ToString) -> Bind {
    Bind::T(s.to_string())
}

/// SQLite always; PostgreSQL too when the suite provides a cluster.
pub async fn databases() -> Vec<Db> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let mut out = vec![Db::open("sqlite", &url, Some(dir)).await];
    if let Ok(admin) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") {
        let name = format!("pc_auth_{}", Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to the test cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        out.push(Db::open("postgresql", &format!("{base}/{name}"), None).await);
    }
    out
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
