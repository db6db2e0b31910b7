//! {{display_name}}: a web autofill planner (see the SDK's guide, sdk/docs/rust.md).

use portcullis_plugin_sdk::{Autofill, CredentialPart, Error, Host, Page, PluginInfo, Step};

/// The plugin. Pure: it sees the page's fields, never a credential.
pub struct Plugin;

impl Autofill for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo::new("{{id}}", "0.1.0", "{{display_name}}")
    }

    fn plan(_host: &dyn Host, page: Page) -> Result<Vec<Step>, Error> {
        let find = |kinds: &[&str]| page.fields.iter().find(|f| kinds.contains(&f.kind.as_str()));
        let password = find(&["password"])
            .ok_or_else(|| Error::not_found(format!("{} has no password field", page.url)))?;
        let mut steps = Vec::new();
        if let Some(user) = find(&["text", "email"]) {
            steps.push(Step::FillCredential { selector: user.selector.clone(), part: CredentialPart::Username });
        }
        steps.push(Step::FillCredential { selector: password.selector.clone(), part: CredentialPart::Password });
        steps.push(Step::Submit { selector: password.selector.clone() });
        Ok(steps)
    }
}

portcullis_plugin_sdk::export_autofill!(Plugin);
