//! The generated `Guest` traits implemented once, generically, over the SDK's world traits:
//! the export macros only name `AutomationExport<MyPlugin>` (and friends) to the generated
//! export macro. Each adapter converts the arguments, passes [`WasmHost`] as the world's
//! trait object, and converts the result back.

use std::marker::PhantomData;

use super::WasmHost;
use super::bindings::auth::exports::portcullis::plugin::auth as au;
use super::bindings::autofill::exports::portcullis::plugin::autofill_planner as af;
use super::bindings::automation::exports::portcullis::plugin::automation as a;
use super::bindings::connector::exports::portcullis::plugin::connector as c;
use super::bindings::portcullis::plugin::{remote, secrets, types};
use crate::{Auth, Autofill, Automation, Connector, SecretRef};

type Result<T> = std::result::Result<T, types::PluginError>;

fn done<T, U: From<T>>(r: std::result::Result<T, crate::Error>) -> Result<U> {
    r.map(Into::into).map_err(Into::into)
}

/// `P` as the `automation` export.
pub struct AutomationExport<P>(PhantomData<P>);

impl<P: Automation> a::Guest for AutomationExport<P> {
    fn describe() -> types::PluginInfo {
        P::describe().into()
    }

    fn ping(target: remote::Target, params: String) -> Result<()> {
        done(P::ping(&WasmHost, target.into(), &params))
    }

    fn verify_account(target: remote::Target, params: String) -> Result<()> {
        done(P::verify_account(&WasmHost, target.into(), &params))
    }

    fn change_secret(
        target: remote::Target,
        account: a::Account,
        new_secret: &secrets::Secret,
        params: String,
    ) -> Result<()> {
        done(P::change_secret(
            &WasmHost,
            target.into(),
            account.into(),
            SecretRef(new_secret),
            &params,
        ))
    }

    fn push_account(
        target: remote::Target,
        account: a::Account,
        secret: &secrets::Secret,
        options: a::PushOptions,
        params: String,
    ) -> Result<()> {
        done(P::push_account(
            &WasmHost,
            target.into(),
            account.into(),
            SecretRef(secret),
            options.into(),
            &params,
        ))
    }

    fn gather_accounts(
        target: remote::Target,
        params: String,
    ) -> Result<Vec<a::DiscoveredAccount>> {
        P::gather_accounts(&WasmHost, target.into(), &params)
            .map(|list| list.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn remove_account(target: remote::Target, username: String, params: String) -> Result<()> {
        done(P::remove_account(
            &WasmHost,
            target.into(),
            &username,
            &params,
        ))
    }
}

/// `P` as the `connector` export.
pub struct ConnectorExport<P>(PhantomData<P>);

impl<P: Connector> c::Guest for ConnectorExport<P> {
    fn describe() -> types::PluginInfo {
        P::describe().into()
    }

    fn test_connection() -> Result<()> {
        done(P::test_connection(&WasmHost))
    }

    fn list_regions() -> Result<Vec<c::Region>> {
        P::list_regions(&WasmHost)
            .map(|list| list.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn list_instances(request: c::ListRequest) -> Result<c::InstancePage> {
        done(P::list_instances(&WasmHost, request.into()))
    }
}

/// `P` as the `auth` export.
pub struct AuthExport<P>(PhantomData<P>);

impl<P: Auth> au::Guest for AuthExport<P> {
    fn describe() -> types::PluginInfo {
        P::describe().into()
    }

    fn begin(request: au::BeginRequest) -> Result<au::BeginResponse> {
        done(P::begin(&WasmHost, request.into()))
    }

    fn complete(request: au::CompleteRequest) -> Result<au::Identity> {
        done(P::complete(&WasmHost, request.into()))
    }
}

/// `P` as the `autofill-planner` export.
pub struct AutofillExport<P>(PhantomData<P>);

impl<P: Autofill> af::Guest for AutofillExport<P> {
    fn describe() -> types::PluginInfo {
        P::describe().into()
    }

    fn plan(page: af::Page) -> Result<Vec<af::Step>> {
        P::plan(&WasmHost, page.into())
            .map(|steps| steps.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}
