//! The first-party Linux automation plugin: ping, verify, change secret, push, gather and
//! remove accounts over the host's SSH sessions (`platform-automation` world).
//!
//! Every method opens `target` (the host logs in with the vaulted credential); account
//! changes need root, directly or through passwordless `sudo -n` ([`remote`]). Passwords are
//! typed only at passwd's prompts with `send-secret` ([`passwd`]), never on a command line;
//! SSH keys are installed as the user ([`keys`]). Every value on a command line is validated
//! and quoted ([`shell`]). The logic is plain Rust over the SDK's host traits, unit-tested
//! natively with the SDK's scripted host; `export_automation!` makes it the component.

pub mod gather;
pub mod keys;
pub mod params;
pub mod passwd;
pub mod push;
pub mod remote;
pub mod remove;
pub mod shell;

use portcullis_plugin_sdk::{
    Account, Automation, DiscoveredAccount, Error, PluginInfo, PushOptions, RemoteHost, ResultExt,
    SecretKind, SecretRef, Target,
};

use remote::{Privilege, Remote, SCRIPT_TIMEOUT, failure, sudo_refused};

/// The manifest's `id`; `describe` must answer it.
pub const PLUGIN_ID: &str = "portcullis-linux";
/// The manifest's `version`.
pub const VERSION: &str = "0.1.0";

/// The plugin. Stateless: the host makes a fresh instance for every call.
pub struct Linux;

impl Automation for Linux {
    fn describe() -> PluginInfo {
        PluginInfo::new(PLUGIN_ID, VERSION, "Linux (SSH)")
            .feature("sudo")
            .feature("ssh-key")
    }

    /// Logs in and runs `echo ok`.
    fn ping(host: &dyn RemoteHost, target: Target, params: &str) -> Result<(), Error> {
        params::parse(params)?;
        let mut session = host.open(&target, remote::OPEN_TIMEOUT)?;
        let out = session.run("echo ok", SCRIPT_TIMEOUT)?;
        if out.succeeded() && out.stdout_text().trim() == "ok" {
            Ok(())
        } else {
            Err(failure("echo ok", &out))
        }
    }

    /// Logs in with the account's vaulted secret; the login is the verification, so accounts
    /// without a shell (`nologin`, SFTP only) verify too. The host's `Unauthorized` passes
    /// through unchanged.
    fn verify_account(host: &dyn RemoteHost, target: Target, params: &str) -> Result<(), Error> {
        params::parse(params)?;
        host.open(&target, remote::OPEN_TIMEOUT).map(drop)
    }

    fn change_secret(
        host: &dyn RemoteHost,
        target: Target,
        account: Account,
        new_secret: SecretRef<'_>,
        params: &str,
    ) -> Result<(), Error> {
        let params = params::parse(params)?;
        let user = account.username.as_str();
        shell::validate_username(user)?;
        let key = secret_payload(account.secret_kind, new_secret)?;
        let mut remote = Remote::connect(host, &target, params.sudo())?;
        install_secret(host, &mut remote, user, new_secret, key.as_deref(), &params)?;
        host.info(&format!(
            "changed the {} of {user}",
            kind_name(account.secret_kind)
        ));
        Ok(())
    }

    fn push_account(
        host: &dyn RemoteHost,
        target: Target,
        account: Account,
        secret: SecretRef<'_>,
        options: PushOptions,
        params: &str,
    ) -> Result<(), Error> {
        let params = params::parse(params)?;
        let user = account.username.as_str();
        push::validate(user, &options)?;
        let key = secret_payload(account.secret_kind, secret)?;
        let mut remote = Remote::connect(host, &target, params.sudo())?;
        let out = remote.script("creating the account", &push::script(user, &options)?)?;
        let what = if out.stdout_text().contains("created") {
            "created"
        } else {
            "updated"
        };
        host.info(&format!("{what} account {user}"));
        install_secret(host, &mut remote, user, secret, key.as_deref(), &params)
            .context(format!("account {user} {what}, but its secret was not set"))
    }

    /// Reads the account databases, through sudo when possible; when sudo is refused, falls
    /// back to what the connecting account can read (lock status then stays unknown).
    fn gather_accounts(
        host: &dyn RemoteHost,
        target: Target,
        params: &str,
    ) -> Result<Vec<DiscoveredAccount>, Error> {
        let params = params::parse(params)?;
        let mut remote = Remote::connect(host, &target, params.sudo())?;
        let mut out = remote.run_script(gather::SCRIPT)?;
        if !out.succeeded()
            && remote.privilege() == Privilege::Sudo
            && sudo_refused(&out.stderr_text())
        {
            host.warn(
                "sudo refused: gathering what the connecting account can read (no lock status)",
            );
            remote.drop_privilege();
            out = remote.run_script(gather::SCRIPT)?;
        }
        if !out.succeeded() {
            return Err(failure("reading the account databases", &out));
        }
        let accounts = gather::accounts(&out.stdout_text(), params.all);
        if accounts.is_empty() {
            return Err(Error::internal(
                "the asset listed no accounts: the passwd database could not be read",
            ));
        }
        host.info(&format!("gathered {} accounts", accounts.len()));
        Ok(accounts)
    }

    fn remove_account(
        host: &dyn RemoteHost,
        target: Target,
        username: &str,
        params: &str,
    ) -> Result<(), Error> {
        let params = params::parse(params)?;
        shell::validate_username(username)?;
        let mut remote = Remote::connect(host, &target, params.sudo())?;
        let out = remote.script(
            &format!("removing {username}"),
            &remove::script(username, params.delete_home),
        )?;
        for warning in remove::warnings(&out.stdout_text()) {
            host.warn(warning);
        }
        host.info(&format!("removed account {username}"));
        Ok(())
    }
}

/// Checks the secret fits the account kind before anything runs: passwords go through
/// passwd (`None`), SSH keys need their public half (`Some(key)`); other kinds do not exist
/// on Linux.
fn secret_payload(kind: SecretKind, secret: SecretRef<'_>) -> Result<Option<String>, Error> {
    match kind {
        SecretKind::Password => Ok(None),
        SecretKind::SshKey => {
            let public = secret.public_part().ok_or_else(|| {
                Error::invalid_input("the SSH key secret has no public part to install")
            })?;
            Ok(Some(shell::validate_public_key(&public)?.to_owned()))
        }
        other => Err(Error::invalid_input(format!(
            "Linux accounts take passwords and SSH keys, not {}",
            kind_name(other)
        ))),
    }
}

/// Sets the password (no key) or installs the key.
fn install_secret(
    host: &dyn RemoteHost,
    remote: &mut Remote,
    user: &str,
    secret: SecretRef<'_>,
    key: Option<&str>,
    params: &params::Params,
) -> Result<(), Error> {
    match key {
        None => {
            let privilege = remote.privilege();
            passwd::set_password(remote.session(), privilege, user, secret)
        }
        Some(key) => {
            let strategy = params.ssh_key_change_strategy;
            host.debug(&format!(
                "installing an SSH key for {user} ({})",
                match strategy {
                    params::KeyStrategy::Add => "added to the others",
                    params::KeyStrategy::Replace => "replacing the others",
                }
            ));
            remote
                .script(
                    &format!("installing the SSH key of {user}"),
                    &keys::install_script(user, key, strategy),
                )
                .map(drop)
        }
    }
}

fn kind_name(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::Password => "password",
        SecretKind::SshKey => "SSH key",
        SecretKind::Token => "token",
        SecretKind::AccessKey => "access key",
        SecretKind::ApiKey => "API key",
    }
}

portcullis_plugin_sdk::export_automation!(Linux);

#[cfg(test)]
mod tests;
