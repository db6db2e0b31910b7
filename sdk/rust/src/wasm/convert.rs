//! Conversions between the generated binding types and the SDK's plain types, at the call
//! boundary in both directions. Field for field; nothing is lost.

use super::bindings::auth::exports::portcullis::plugin::auth as au;
use super::bindings::autofill::exports::portcullis::plugin::autofill_planner as af;
use super::bindings::automation::exports::portcullis::plugin::automation as a;
use super::bindings::connector::exports::portcullis::plugin::connector as c;
use super::bindings::portcullis::plugin::{log, remote, types};
use crate::Error;

impl From<types::PluginError> for Error {
    fn from(e: types::PluginError) -> Self {
        use types::PluginError as P;
        match e {
            P::InvalidInput(m) => Error::InvalidInput(m),
            P::Denied(m) => Error::Denied(m),
            P::Unauthorized(m) => Error::Unauthorized(m),
            P::NotFound(m) => Error::NotFound(m),
            P::Unavailable(m) => Error::Unavailable(m),
            P::Timeout => Error::Timeout,
            P::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<Error> for types::PluginError {
    fn from(e: Error) -> Self {
        use types::PluginError as P;
        match e {
            Error::InvalidInput(m) => P::InvalidInput(m),
            Error::Denied(m) => P::Denied(m),
            Error::Unauthorized(m) => P::Unauthorized(m),
            Error::NotFound(m) => P::NotFound(m),
            Error::Unavailable(m) => P::Unavailable(m),
            Error::Timeout => P::Timeout,
            Error::Internal(m) => P::Internal(m),
        }
    }
}

impl From<crate::PluginInfo> for types::PluginInfo {
    fn from(i: crate::PluginInfo) -> Self {
        types::PluginInfo {
            id: i.id,
            version: i.version,
            display_name: i.display_name,
            features: i.features,
        }
    }
}

impl From<crate::LogLevel> for log::Level {
    fn from(l: crate::LogLevel) -> Self {
        match l {
            crate::LogLevel::Trace => log::Level::Trace,
            crate::LogLevel::Debug => log::Level::Debug,
            crate::LogLevel::Info => log::Level::Info,
            crate::LogLevel::Warn => log::Level::Warn,
            crate::LogLevel::Error => log::Level::Error,
        }
    }
}

impl From<remote::Protocol> for crate::Protocol {
    fn from(p: remote::Protocol) -> Self {
        match p {
            remote::Protocol::Ssh => crate::Protocol::Ssh,
            remote::Protocol::Telnet => crate::Protocol::Telnet,
            remote::Protocol::Winrm => crate::Protocol::Winrm,
        }
    }
}

impl From<crate::Protocol> for remote::Protocol {
    fn from(p: crate::Protocol) -> Self {
        match p {
            crate::Protocol::Ssh => remote::Protocol::Ssh,
            crate::Protocol::Telnet => remote::Protocol::Telnet,
            crate::Protocol::Winrm => remote::Protocol::Winrm,
        }
    }
}

impl From<remote::Target> for crate::Target {
    fn from(t: remote::Target) -> Self {
        crate::Target {
            asset_id: t.asset_id,
            account_id: t.account_id,
            protocol: t.protocol.into(),
        }
    }
}

impl From<crate::Target> for remote::Target {
    fn from(t: crate::Target) -> Self {
        remote::Target {
            asset_id: t.asset_id,
            account_id: t.account_id,
            protocol: t.protocol.into(),
        }
    }
}

impl From<remote::CommandOutput> for crate::CommandOutput {
    fn from(o: remote::CommandOutput) -> Self {
        crate::CommandOutput {
            exit_code: o.exit_code,
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }
}

impl From<remote::ExpectMatch> for crate::ExpectMatch {
    fn from(m: remote::ExpectMatch) -> Self {
        crate::ExpectMatch {
            index: m.index,
            output: m.output,
        }
    }
}

impl From<a::SecretKind> for crate::SecretKind {
    fn from(k: a::SecretKind) -> Self {
        match k {
            a::SecretKind::Password => crate::SecretKind::Password,
            a::SecretKind::SshKey => crate::SecretKind::SshKey,
            a::SecretKind::Token => crate::SecretKind::Token,
            a::SecretKind::AccessKey => crate::SecretKind::AccessKey,
            a::SecretKind::ApiKey => crate::SecretKind::ApiKey,
        }
    }
}

impl From<a::Account> for crate::Account {
    fn from(a: a::Account) -> Self {
        crate::Account {
            username: a.username,
            secret_kind: a.secret_kind.into(),
        }
    }
}

impl From<a::PushOptions> for crate::PushOptions {
    fn from(o: a::PushOptions) -> Self {
        crate::PushOptions {
            home: o.home,
            shell: o.shell,
            groups: o.groups,
            sudo: o.sudo,
            private_group: o.private_group,
        }
    }
}

impl From<crate::DiscoveredAccount> for a::DiscoveredAccount {
    fn from(d: crate::DiscoveredAccount) -> Self {
        a::DiscoveredAccount {
            username: d.username,
            uid: d.uid,
            home: d.home,
            shell: d.shell,
            groups: d.groups,
            last_login: d.last_login,
            last_login_address: d.last_login_address,
            login_enabled: d.login_enabled,
            privileged: d.privileged,
        }
    }
}

impl From<crate::Region> for c::Region {
    fn from(r: crate::Region) -> Self {
        c::Region {
            id: r.id,
            name: r.name,
        }
    }
}

impl From<crate::Instance> for c::Instance {
    fn from(i: crate::Instance) -> Self {
        c::Instance {
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
        }
    }
}

impl From<c::ListRequest> for crate::ListRequest {
    fn from(r: c::ListRequest) -> Self {
        crate::ListRequest {
            region: r.region,
            page_token: r.page_token,
            page_size: r.page_size,
        }
    }
}

impl From<crate::InstancePage> for c::InstancePage {
    fn from(p: crate::InstancePage) -> Self {
        c::InstancePage {
            instances: p.instances.into_iter().map(Into::into).collect(),
            next_page_token: p.next_page_token,
        }
    }
}

impl From<au::BeginRequest> for crate::BeginRequest {
    fn from(r: au::BeginRequest) -> Self {
        crate::BeginRequest {
            callback_url: r.callback_url,
            state: r.state,
            nonce: r.nonce,
            locale: r.locale,
        }
    }
}

impl From<crate::BeginResponse> for au::BeginResponse {
    fn from(r: crate::BeginResponse) -> Self {
        au::BeginResponse {
            redirect_url: r.redirect_url,
            stash: r.stash,
        }
    }
}

impl From<au::CompleteRequest> for crate::CompleteRequest {
    fn from(r: au::CompleteRequest) -> Self {
        crate::CompleteRequest {
            params: r.params,
            stash: r.stash,
            callback_url: r.callback_url,
        }
    }
}

impl From<crate::Identity> for au::Identity {
    fn from(i: crate::Identity) -> Self {
        au::Identity {
            subject: i.subject,
            username: i.username,
            display_name: i.display_name,
            email: i.email,
            phone: i.phone,
            groups: i.groups,
            attributes: i.attributes,
        }
    }
}

impl From<af::Field> for crate::Field {
    fn from(f: af::Field) -> Self {
        crate::Field {
            selector: f.selector,
            tag: f.tag,
            kind: f.kind,
            name: f.name,
            id: f.id,
            placeholder: f.placeholder,
            label: f.label,
        }
    }
}

impl From<af::Page> for crate::Page {
    fn from(p: af::Page) -> Self {
        crate::Page {
            url: p.url,
            title: p.title,
            fields: p.fields.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<crate::CredentialPart> for af::CredentialPart {
    fn from(p: crate::CredentialPart) -> Self {
        match p {
            crate::CredentialPart::Username => af::CredentialPart::Username,
            crate::CredentialPart::Password => af::CredentialPart::Password,
            crate::CredentialPart::Otp => af::CredentialPart::Otp,
        }
    }
}

impl From<crate::Step> for af::Step {
    fn from(s: crate::Step) -> Self {
        match s {
            crate::Step::Fill { selector, text } => af::Step::Fill(af::FillText { selector, text }),
            crate::Step::FillCredential { selector, part } => {
                af::Step::FillCredential(af::FillSecret {
                    selector,
                    part: part.into(),
                })
            }
            crate::Step::Click { selector } => af::Step::Click(selector),
            crate::Step::WaitFor {
                selector,
                timeout_ms,
            } => af::Step::WaitFor(af::Wait {
                selector,
                timeout_ms,
            }),
            crate::Step::Submit { selector } => af::Step::Submit(selector),
        }
    }
}
