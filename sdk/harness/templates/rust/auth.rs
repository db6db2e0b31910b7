//! {{display_name}}: an auth provider (see the SDK's guide, sdk/docs/rust.md).

use portcullis_plugin_sdk::http::Request;
use portcullis_plugin_sdk::{
    Auth, BeginRequest, BeginResponse, CompleteRequest, Error, HttpHost, Identity, PluginInfo,
};

/// The plugin. Stateless: the host keeps `state`, `nonce` and the stash between the calls.
pub struct Plugin;

#[derive(serde::Deserialize)]
struct UserInfo {
    id: String,
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: Option<String>,
}

impl Auth for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo::new("{{id}}", "0.1.0", "{{display_name}}")
    }

    fn begin(host: &dyn HttpHost, request: BeginRequest) -> Result<BeginResponse, Error> {
        let authorize = host.require_config("authorize_url")?;
        let client_id = host.require_config("client_id")?;
        Ok(BeginResponse {
            redirect_url: format!(
                "{authorize}?client_id={client_id}&redirect_uri={}&state={}",
                request.callback_url, request.state
            ),
            stash: String::new(),
        })
    }

    fn complete(host: &dyn HttpHost, request: CompleteRequest) -> Result<Identity, Error> {
        let code = request
            .params
            .iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Error::invalid_input("the callback has no code"))?;
        let userinfo = host.require_config("userinfo_url")?;
        let url = format!("{userinfo}?code={code}");
        let response = host.send(&Request::get(&url))?;
        match response.status {
            200 => {}
            400 | 401 | 403 => return Err(Error::unauthorized(format!("the provider refused the code: HTTP {}", response.status))),
            status => return Err(Error::unavailable(format!("HTTP {status} from {userinfo}"))),
        }
        let user: UserInfo = serde_json::from_slice(&response.body)
            .map_err(|e| Error::internal(format!("the user info is not valid: {e}")))?;
        Ok(Identity {
            subject: user.id,
            display_name: if user.name.is_empty() { user.username.clone() } else { user.name },
            username: user.username,
            email: user.email,
            phone: None,
            groups: Vec::new(),
            attributes: Vec::new(),
        })
    }
}

portcullis_plugin_sdk::export_auth!(Plugin);
