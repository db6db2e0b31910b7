//! `portcullis admin …` and `portcullis vault …`: the administrator's offline tools.

use crate::config::{ListenOverrides, Overrides};
use crate::{keys, setup};
use anyhow::{Context, Result, bail};
use portcullis_core::builtin;
use portcullis_core::secret::SecretString;
use portcullis_core::vault::MasterKey;
use portcullis_store::users::NewUser;
use rand::Rng;
use std::io::BufRead;

/// Users and passwords.
#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create a local user (password generated and printed unless --password-stdin).
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Display name [default: the username].
        #[arg(long)]
        name: Option<String>,
        /// Email address.
        #[arg(long)]
        email: String,
        /// System role.
        #[arg(long, value_enum, default_value_t = Role::User)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create (or replace) the user's private API token and print it once
    /// (`Authorization: Token <key>`).
    CreateToken {
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// Set a new password for a user and unlock them.
    ResetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// The built-in role pairs an administrator can give from the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Role {
    /// System administrator (and admin of the Default org).
    Admin,
    /// System auditor (and auditor of the Default org).
    Auditor,
    /// Ordinary user of the Default org.
    User,
}

/// Master key management.
#[derive(clap::Subcommand)]
pub enum VaultCommand {
    /// Re-seal every stored secret under a new master key, in one transaction.
    RotateKey {
        /// With an inline key: the new key (base64 of 32 bytes).
        #[arg(long, env = "PORTCULLIS_NEW_MASTER_KEY", hide_env_values = true)]
        new_key: Option<String>,
    },
    /// Print a fresh random master key (for PORTCULLIS_MASTER_KEY).
    GenerateKey,
}

/// A random password that satisfies any sane policy: 20 characters from four classes.
pub fn generate_password() -> SecretString {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!#%+-.=@^_",
    ];
    let mut rng = rand::rngs::OsRng;
    let mut chars: Vec<u8> = SETS.iter().map(|s| s[rng.gen_range(0..s.len())]).collect();
    let all: Vec<u8> = SETS.concat();
    while chars.len() < 20 {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.gen_range(0..=i));
    }
    SecretString::new(String::from_utf8_lossy(&chars).into_owned())
}

fn read_password(from_stdin: bool) -> Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("the password read from standard input is empty");
    }
    Ok((SecretString::new(password), false))
}

/// Runs an `admin` subcommand.
pub async fn run(common: &Overrides, action: AdminCommand) -> Result<()> {
    let opened = setup::open(common, &ListenOverrides::default()).await?;
    let store = &opened.store;
    match action {
        AdminCommand::CreateUser {
            username,
            name,
            email,
            role,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            let (system_role, org_role) = match role {
                Role::Admin => (builtin::SYSTEM_ADMIN_ROLE_ID, builtin::ORG_ADMIN_ROLE_ID),
                Role::Auditor => (
                    builtin::SYSTEM_AUDITOR_ROLE_ID,
                    builtin::ORG_AUDITOR_ROLE_ID,
                ),
                Role::User => (builtin::SYSTEM_USER_ROLE_ID, builtin::ORG_USER_ROLE_ID),
            };
            let id = store
                .create_user(&NewUser {
                    name: name.unwrap_or_else(|| username.clone()),
                    username: username.clone(),
                    email,
                    password: password.clone(),
                    system_role,
                    org_role: Some((org_role, builtin::DEFAULT_ORG_ID)),
                    created_by: "cli".into(),
                    need_update_password: generated,
                })
                .await?;
            println!("created user {username} ({id})");
            if generated {
                println!("password: {}", password.expose());
            }
        }
        AdminCommand::CreateToken { username } => {
            let user = store
                .user_by_username(&username)
                .await?
                .with_context(|| format!("user `{username}` not found"))?;
            let auth = portcullis_auth::Auth::new(store.clone(), opened.vault.clone());
            let token = auth.create_private_token(user.id).await?;
            println!("private token of {username} (shown once; it replaces any previous one):");
            println!("{token}");
        }
        AdminCommand::ResetPassword {
            username,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            store
                .reset_password(&username, &password, generated, "cli", "127.0.0.1")
                .await?;
            println!("password of {username} reset; the user is unlocked");
            if generated {
                println!("password: {}", password.expose());
            }
        }
    }
    opened.store.close().await;
    Ok(())
}

/// Runs a `vault` subcommand.
pub async fn run_vault(common: &Overrides, action: VaultCommand) -> Result<()> {
    match action {
        VaultCommand::GenerateKey => {
            println!("{}", MasterKey::generate().to_base64().as_str());
            Ok(())
        }
        VaultCommand::RotateKey { new_key } => {
            let opened = setup::open(common, &ListenOverrides::default()).await?;
            let (id, count) = keys::rotate(
                &opened.config.key,
                &opened.store,
                &opened.vault,
                new_key.as_deref(),
            )
            .await?;
            println!("rotated the master key: {count} secrets re-sealed under key {id}");
            if matches!(opened.config.key, crate::config::KeySource::Inline(_)) {
                println!(
                    "now configure the new key in PORTCULLIS_MASTER_KEY (or vault.master_key) before the next start"
                );
            }
            opened.store.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_have_every_class_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_ne!(a, b);
        let p = a.expose();
        assert_eq!(p.len(), 20);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
    }
}
