//! Conversions between the generated binding types and the plain mirrors in [`crate::types`].
//!
//! Kept in one place so the rest of the runtime never names a generated type besides the
//! call dispatch, and a WIT change shows up here as a compile error.

use crate::bindings::auth::exports::portcullis::plugin::auth as wauth;
use crate::bindings::autofill::exports::portcullis::plugin::autofill_planner as wf;
use crate::bindings::automation::exports::portcullis::plugin::automation as wa;
use crate::bindings::automation::portcullis::plugin::{remote as wr, types as wt};
use crate::bindings::connector::exports::portcullis::plugin::connector as wc;
use crate::error::PluginError;
use crate::types::*;

pub(crate) fn plugin_error_from_wit(e: wt::PluginError) -> PluginError {
    match e {
        wt::PluginError::InvalidInput(s) => PluginError::InvalidInput(s),
        wt::PluginError::Denied(s) => PluginError::Denied(s),
        wt::PluginError::Unauthorized(s) => PluginError::Unauthorized(s),
        wt::PluginError::NotFound(s) => PluginError::NotFound(s),
        wt::PluginError::Unavailable(s) => PluginError::Unavailable(s),
        wt::PluginError::Timeout => PluginError::Timeout,
        wt::PluginError::Internal(s) => PluginError::Internal(s),
    }
}

pub(crate) fn plugin_error_to_wit(e: PluginError) -> wt::PluginError {
    match e {
        PluginError::InvalidInput(s) => wt::PluginError::InvalidInput(s),
        PluginError::Denied(s) => wt::PluginError::Denied(s),
        PluginError::Unauthorized(s) => wt::PluginError::Unauthorized(s),
        PluginError::NotFound(s) => wt::PluginError::NotFound(s),
        PluginError::Unavailable(s) => wt::PluginError::Unavailable(s),
        PluginError::Timeout => wt::PluginError::Timeout,
        PluginError::Internal(s) => wt::PluginError::Internal(s),
    }
}

pub(crate) fn info_from_wit(i: wt::PluginInfo) -> PluginInfo {
    PluginInfo {
        id: i.id,
        version: i.version,
        display_name: i.display_name,
        features: i.features,
    }
}

pub(crate) fn protocol_from_wit(p: wr::Protocol) -> Protocol {
    match p {
        wr::Protocol::Ssh => Protocol::Ssh,
        wr::Protocol::Telnet => Protocol::Telnet,
        wr::Protocol::Winrm => Protocol::Winrm,
    }
}

pub(crate) fn protocol_to_wit(p: Protocol) -> wr::Protocol {
    match p {
        Protocol::Ssh => wr::Protocol::Ssh,
        Protocol::Telnet => wr::Protocol::Telnet,
        Protocol::Winrm => wr::Protocol::Winrm,
    }
}

pub(crate) fn target_from_wit(t: wr::Target) -> Target {
    Target {
        asset_id: t.asset_id,
        account_id: t.account_id,
        protocol: protocol_from_wit(t.protocol),
    }
}

pub(crate) fn target_to_wit(t: &Target) -> wr::Target {
    wr::Target {
        asset_id: t.asset_id.clone(),
        account_id: t.account_id.clone(),
        protocol: protocol_to_wit(t.protocol),
    }
}

pub(crate) fn command_output_to_wit(o: CommandOutput) -> wr::CommandOutput {
    wr::CommandOutput {
        exit_code: o.exit_code,
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

pub(crate) fn expect_match_to_wit(m: ExpectMatch) -> wr::ExpectMatch {
    wr::ExpectMatch {
        index: m.index,
        output: m.output,
    }
}

pub(crate) fn log_level_from_wit(
    l: crate::bindings::automation::portcullis::plugin::log::Level,
) -> LogLevel {
    use crate::bindings::automation::portcullis::plugin::log::Level;
    match l {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

pub(crate) fn account_to_wit(a: &Account) -> wa::Account {
    wa::Account {
        username: a.username.clone(),
        secret_kind: match a.secret_kind {
            SecretKind::Password => wa::SecretKind::Password,
            SecretKind::SshKey => wa::SecretKind::SshKey,
            SecretKind::Token => wa::SecretKind::Token,
            SecretKind::AccessKey => wa::SecretKind::AccessKey,
            SecretKind::ApiKey => wa::SecretKind::ApiKey,
        },
    }
}

pub(crate) fn push_options_to_wit(o: &PushOptions) -> wa::PushOptions {
    wa::PushOptions {
        home: o.home.clone(),
        shell: o.shell.clone(),
        groups: o.groups.clone(),
        sudo: o.sudo.clone(),
        private_group: o.private_group,
    }
}

pub(crate) fn discovered_from_wit(a: wa::DiscoveredAccount) -> DiscoveredAccount {
    DiscoveredAccount {
        username: a.username,
        uid: a.uid,
        home: a.home,
        shell: a.shell,
        groups: a.groups,
        last_login: a.last_login,
        last_login_address: a.last_login_address,
        login_enabled: a.login_enabled,
        privileged: a.privileged,
    }
}

pub(crate) fn region_from_wit(r: wc::Region) -> Region {
    Region {
        id: r.id,
        name: r.name,
    }
}

pub(crate) fn list_request_to_wit(r: &ListRequest) -> wc::ListRequest {
    wc::ListRequest {
        region: r.region.clone(),
        page_token: r.page_token.clone(),
        page_size: r.page_size,
    }
}

pub(crate) fn page_from_wit(p: wc::InstancePage) -> InstancePage {
    InstancePage {
        instances: p
            .instances
            .into_iter()
            .map(|i| Instance {
                external_id: i.external_id,
                name: i.name,
                hostname: i.hostname,
                private_ips: i.private_ips,
                public_ips: i.public_ips,
                os_family: i.os_family,
                os_name: i.os_name,
                status: i.status,
                zone: i.zone,
                network: i.network,
                tags: i.tags,
            })
            .collect(),
        next_page_token: p.next_page_token,
    }
}

pub(crate) fn begin_request_to_wit(r: &BeginRequest) -> wauth::BeginRequest {
    wauth::BeginRequest {
        callback_url: r.callback_url.clone(),
        state: r.state.clone(),
        nonce: r.nonce.clone(),
        locale: r.locale.clone(),
    }
}

pub(crate) fn begin_response_from_wit(r: wauth::BeginResponse) -> BeginResponse {
    BeginResponse {
        redirect_url: r.redirect_url,
        stash: r.stash,
    }
}

pub(crate) fn complete_request_to_wit(r: &CompleteRequest) -> wauth::CompleteRequest {
    wauth::CompleteRequest {
        params: r.params.clone(),
        stash: r.stash.clone(),
        callback_url: r.callback_url.clone(),
    }
}

pub(crate) fn identity_from_wit(i: wauth::Identity) -> Identity {
    Identity {
        subject: i.subject,
        username: i.username,
        display_name: i.display_name,
        email: i.email,
        phone: i.phone,
        groups: i.groups,
        attributes: i.attributes,
    }
}

pub(crate) fn page_to_wit(p: &Page) -> wf::Page {
    wf::Page {
        url: p.url.clone(),
        title: p.title.clone(),
        fields: p
            .fields
            .iter()
            .map(|f| wf::Field {
                selector: f.selector.clone(),
                tag: f.tag.clone(),
                kind: f.kind.clone(),
                name: f.name.clone(),
                id: f.id.clone(),
                placeholder: f.placeholder.clone(),
                label: f.label.clone(),
            })
            .collect(),
    }
}

pub(crate) fn step_from_wit(s: wf::Step) -> Step {
    match s {
        wf::Step::Fill(f) => Step::Fill {
            selector: f.selector,
            text: f.text,
        },
        wf::Step::FillCredential(f) => Step::FillCredential {
            selector: f.selector,
            part: match f.part {
                wf::CredentialPart::Username => CredentialPart::Username,
                wf::CredentialPart::Password => CredentialPart::Password,
                wf::CredentialPart::Otp => CredentialPart::Otp,
            },
        },
        wf::Step::Click(selector) => Step::Click { selector },
        wf::Step::WaitFor(w) => Step::WaitFor {
            selector: w.selector,
            timeout_ms: w.timeout_ms,
        },
        wf::Step::Submit(selector) => Step::Submit { selector },
    }
}
