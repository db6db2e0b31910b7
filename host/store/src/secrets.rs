//! Where secrets live in the schema, and re-sealing them under a new master key.
//!
//! Every column that holds a vault envelope is listed in [`SECRET_COLUMNS`]; a test checks the
//! schema against the list, so a new secret column cannot be forgotten by key rotation.

use crate::codec::trusted;
use crate::{Store, StoreError};
use portcullis_core::vault::{SealContext, Vault};
use sqlx::Row;

/// A column holding vault envelopes, addressed by the row's `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretColumn {
    /// Table name.
    pub table: &'static str,
    /// Column name.
    pub column: &'static str,
}

/// Every column that stores a sealed secret.
pub const SECRET_COLUMNS: &[SecretColumn] = &[
    SecretColumn {
        table: "connection_tokens",
        column: "secret",
    },
    SecretColumn {
        table: "connection_tokens",
        column: "input_secret",
    },
    SecretColumn {
        table: "users",
        column: "mfa_secret",
    },
    SecretColumn {
        table: "accounts",
        column: "secret",
    },
    SecretColumn {
        table: "accounts",
        column: "passphrase",
    },
    SecretColumn {
        table: "account_templates",
        column: "secret",
    },
    SecretColumn {
        table: "account_templates",
        column: "passphrase",
    },
    SecretColumn {
        table: "account_secret_histories",
        column: "secret",
    },
    SecretColumn {
        table: "access_keys",
        column: "secret",
    },
    SecretColumn {
        table: "plugin_secrets",
        column: "secret",
    },
];

impl SecretColumn {
    /// The associated data binding a value to this column of row `id`.
    pub fn context(&self, id: &str) -> SealContext {
        SealContext::new(self.table, self.column, id)
    }
}

/// What a re-seal pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Values that were sealed under another key and now use the active one.
    pub resealed: u64,
    /// Values already under the active key.
    pub unchanged: u64,
}

impl Store {
    /// Re-seals every stored secret under `vault`'s active key and records that key as the
    /// database's, in one transaction: either all values move to the new key or, if any value
    /// cannot be opened, none do.
    pub async fn reseal_all(&self, vault: &Vault) -> Result<ResealReport, StoreError> {
        let mut report = ResealReport::default();
        let mut tx = self.begin_write().await?;
        for col in SECRET_COLUMNS {
            let rows = sqlx::query(trusted(format!(
                "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL",
                c = col.column,
                t = col.table
            )))
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let id: String = row.try_get(0)?;
                let value: String = row.try_get(1)?;
                let place = || format!("{}.{}:{id}", col.table, col.column);
                let stale = vault
                    .needs_reseal(&value)
                    .map_err(|cause| StoreError::Vault {
                        place: place(),
                        cause,
                    })?;
                if !stale {
                    report.unchanged += 1;
                    continue;
                }
                let fresh =
                    vault
                        .reseal(&value, &col.context(&id))
                        .map_err(|cause| StoreError::Vault {
                            place: place(),
                            cause,
                        })?;
                sqlx::query(trusted(format!(
                    "UPDATE {t} SET {c} = $1 WHERE id = $2",
                    c = col.column,
                    t = col.table
                )))
                .bind(fresh)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                report.resealed += 1;
            }
        }
        crate::settings::set_setting_in(
            &mut tx,
            crate::settings::VAULT_KEY_ID,
            "security",
            &serde_json::Value::String(vault.active_key().id().to_owned()),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}
