//! Connect-method ACLs: forbid (or explicitly allow) ways of connecting — web CLI, web SFTP,
//! SSH client, RDP client, … — per user.
//!
//! First match in priority order among active ACLs whose `users` selector matches and whose
//! `connect_methods` list contains the method; no match means accept.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AclDecision, Attributes, Selector, by_priority};

/// What a connect-method ACL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectMethodAction {
    /// Forbid the method.
    Reject,
    /// Allow it (and stop evaluating lower-priority ACLs).
    #[default]
    Accept,
}

/// A connect-method ACL (`/acls/connect-method-acls/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectMethodAcl {
    /// ACL id.
    pub id: Uuid,
    /// Name; second sort key.
    pub name: String,
    /// 1..=100, lower first.
    pub priority: u8,
    /// Inactive ACLs are skipped.
    pub is_active: bool,
    /// What happens when it decides.
    pub action: ConnectMethodAction,
    /// Which users it applies to.
    pub users: Selector,
    /// Method values (`web_cli`, `web_sftp`, `ssh_client`, …), compared ignoring ASCII case.
    pub connect_methods: Vec<String>,
}

/// Decides whether `user` may connect with `method`.
pub fn evaluate_connect_method(
    acls: &[ConnectMethodAcl],
    user: &dyn Attributes,
    method: &str,
) -> AclDecision<ConnectMethodAction> {
    let candidates = acls
        .iter()
        .filter(|a| a.is_active && a.users.matches(user))
        .collect();
    by_priority(candidates, |a: &ConnectMethodAcl| {
        (a.priority, a.name.as_str(), a.id)
    })
    .into_iter()
    .find(|a| {
        a.connect_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
    })
    .map_or_else(AclDecision::default_accept, |a| AclDecision {
        action: a.action,
        acl_id: Some(a.id),
        reviewers: Vec::new(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::acl::AttrMap;
    use proptest::prelude::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn acl(
        n: u128,
        priority: u8,
        action: ConnectMethodAction,
        methods: &[&str],
    ) -> ConnectMethodAcl {
        ConnectMethodAcl {
            id: id(n),
            name: format!("m{n}"),
            priority,
            is_active: true,
            action,
            users: Selector::all(),
            connect_methods: methods.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn connect_method_first_match() {
        let user = AttrMap::new(id(100), [("username", "bob")]);
        let deny_web = acl(1, 10, ConnectMethodAction::Reject, &["web_cli", "web_sftp"]);
        let allow_cli = acl(2, 5, ConnectMethodAction::Accept, &["web_cli"]);
        let mut inactive = acl(3, 1, ConnectMethodAction::Reject, &["ssh_client"]);
        inactive.is_active = false;
        let mut not_bob = acl(4, 1, ConnectMethodAction::Reject, &["ssh_client"]);
        not_bob.users = Selector::ids([id(5)]);
        let acls = vec![deny_web, allow_cli, inactive, not_bob];
        let cases = [
            ("web_cli", ConnectMethodAction::Accept, Some(2)),
            ("WEB_SFTP", ConnectMethodAction::Reject, Some(1)),
            ("ssh_client", ConnectMethodAction::Accept, None),
            ("rdp_client", ConnectMethodAction::Accept, None),
        ];
        for (method, action, decided_by) in cases {
            let d = evaluate_connect_method(&acls, &user, method);
            assert_eq!(
                (d.action, d.acl_id),
                (action, decided_by.map(id)),
                "{method}"
            );
        }
    }

    fn build(specs: Vec<(u8, bool, u8)>) -> Vec<ConnectMethodAcl> {
        specs
            .iter()
            .enumerate()
            .map(|(i, (p, reject, m))| {
                let action = if *reject {
                    ConnectMethodAction::Reject
                } else {
                    ConnectMethodAction::Accept
                };
                let method = ["web_cli", "ssh_client", "web_sftp"][usize::from(*m)];
                let mut a = acl(i as u128, *p, action, &[method]);
                a.name = format!("n{}", i % 2);
                a
            })
            .collect()
    }

    proptest! {
        #[test]
        fn prop_connect_method_order_independent(
            (acls, shuffled) in prop::collection::vec((1u8..4, any::<bool>(), 0u8..3), 0..8)
                .prop_map(build)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        ) {
            let user = AttrMap::new(id(100), [("username", "bob")]);
            for m in ["web_cli", "ssh_client", "web_sftp"] {
                prop_assert_eq!(
                    evaluate_connect_method(&acls, &user, m),
                    evaluate_connect_method(&shuffled, &user, m)
                );
            }
        }
    }
}
