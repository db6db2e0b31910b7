//! {{display_name}}: a platform automation (see the SDK's guide, sdk/docs/rust.md).

use portcullis_plugin_sdk::{Automation, Error, PluginInfo, RemoteHost, Target};
use std::time::Duration;

/// How long one remote step may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The plugin. Stateless: the host makes a fresh instance for every call.
pub struct Plugin;

impl Automation for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo::new("{{id}}", "0.1.0", "{{display_name}}")
    }

    fn ping(host: &dyn RemoteHost, target: Target, _params: &str) -> Result<(), Error> {
        let mut session = host.open(&target, TIMEOUT)?;
        let out = session.run("uname -s", TIMEOUT)?;
        if !out.succeeded() {
            return Err(Error::unavailable(format!(
                "uname failed: {}",
                out.stderr_text().trim()
            )));
        }
        host.info(&format!("the asset runs {}", out.stdout_text().trim()));
        Ok(())
    }
}

portcullis_plugin_sdk::export_automation!(Plugin);
