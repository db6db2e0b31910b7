//! The traits a plugin implements, one per world; export the implementation with the
//! matching macro ([`export_automation!`](crate::export_automation) and friends).
//!
//! Functions are associated functions (no `self`): the host creates a fresh instance per
//! call, so there is no state to keep between calls anyway. Every function but `describe`
//! receives the host's imports as a trait object, so the same code runs in the guest and
//! in native unit tests with [`ScriptedHost`](crate::testing::ScriptedHost). The defaults
//! answer [`Error::not_implemented`]: implement what the manifest declares.

use crate::{
    Account, BeginRequest, BeginResponse, CompleteRequest, DiscoveredAccount, Error, Host,
    HttpHost, Identity, InstancePage, ListRequest, Page, PluginInfo, PushOptions, Region,
    RemoteHost, SecretRef, Step, Target,
};

/// The `automation` interface (`platform-automation` world). `params` is the method's
/// parameters as a JSON object text (possibly empty); parse it with [`crate::params`].
pub trait Automation {
    /// Constant metadata: `id` and `version` must equal the manifest's. No I/O.
    fn describe() -> PluginInfo;

    /// Checks that the asset answers and a login works with `target`'s account.
    fn ping(host: &dyn RemoteHost, target: Target, params: &str) -> Result<(), Error> {
        let _ = (host, target, params);
        Err(Error::not_implemented("ping"))
    }

    /// Checks that `target`'s account logs in with its vaulted secret; `Unauthorized` when
    /// the secret is wrong.
    fn verify_account(host: &dyn RemoteHost, target: Target, params: &str) -> Result<(), Error> {
        let _ = (host, target, params);
        Err(Error::not_implemented("verify-account"))
    }

    /// Sets `account`'s secret to `new_secret`, connecting as `target`'s account.
    fn change_secret(
        host: &dyn RemoteHost,
        target: Target,
        account: Account,
        new_secret: SecretRef<'_>,
        params: &str,
    ) -> Result<(), Error> {
        let _ = (host, target, account, new_secret, params);
        Err(Error::not_implemented("change-secret"))
    }

    /// Creates (or updates) `account` with `secret` and `options`, connecting as `target`'s
    /// account.
    fn push_account(
        host: &dyn RemoteHost,
        target: Target,
        account: Account,
        secret: SecretRef<'_>,
        options: PushOptions,
        params: &str,
    ) -> Result<(), Error> {
        let _ = (host, target, account, secret, options, params);
        Err(Error::not_implemented("push-account"))
    }

    /// Lists the accounts that exist on the asset.
    fn gather_accounts(
        host: &dyn RemoteHost,
        target: Target,
        params: &str,
    ) -> Result<Vec<DiscoveredAccount>, Error> {
        let _ = (host, target, params);
        Err(Error::not_implemented("gather-accounts"))
    }

    /// Deletes `username` from the asset; `NotFound` when there is no such account.
    fn remove_account(
        host: &dyn RemoteHost,
        target: Target,
        username: &str,
        params: &str,
    ) -> Result<(), Error> {
        let _ = (host, target, username, params);
        Err(Error::not_implemented("remove-account"))
    }
}

/// The `connector` interface (`cloud-connector` world).
pub trait Connector {
    /// Constant metadata: `id` and `version` must equal the manifest's. No I/O.
    fn describe() -> PluginInfo;

    /// Checks the credentials and the endpoint with one cheap request.
    fn test_connection(host: &dyn HttpHost) -> Result<(), Error> {
        let _ = host;
        Err(Error::not_implemented("test-connection"))
    }

    /// The regions the account can list instances in.
    fn list_regions(host: &dyn HttpHost) -> Result<Vec<Region>, Error> {
        let _ = host;
        Err(Error::not_implemented("list-regions"))
    }

    /// One page of the instances of a region.
    fn list_instances(host: &dyn HttpHost, request: ListRequest) -> Result<InstancePage, Error> {
        let _ = (host, request);
        Err(Error::not_implemented("list-instances"))
    }
}

/// The `auth` interface (`auth-provider` world).
pub trait Auth {
    /// Constant metadata: `id` and `version` must equal the manifest's. No I/O.
    fn describe() -> PluginInfo;

    /// Starts a login: where to send the browser, and what to get back in `complete`.
    fn begin(host: &dyn HttpHost, request: BeginRequest) -> Result<BeginResponse, Error> {
        let _ = (host, request);
        Err(Error::not_implemented("begin"))
    }

    /// Finishes a login from the provider's callback; `Unauthorized` when refused.
    fn complete(host: &dyn HttpHost, request: CompleteRequest) -> Result<Identity, Error> {
        let _ = (host, request);
        Err(Error::not_implemented("complete"))
    }
}

/// The `autofill-planner` interface (`autofill` world): logging and configuration only.
pub trait Autofill {
    /// Constant metadata: `id` and `version` must equal the manifest's. No I/O.
    fn describe() -> PluginInfo;

    /// The steps that log in on `page`; `NotFound` when it is not a login page it knows.
    fn plan(host: &dyn Host, page: Page) -> Result<Vec<Step>, Error> {
        let _ = (host, page);
        Err(Error::not_implemented("plan"))
    }
}
