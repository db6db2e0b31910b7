//! A user's RBAC roles: which permission codenames they hold, system-wide and per org.

use std::collections::HashMap;

use portcullis_core::builtin::{SYSTEM_ADMIN_ROLE_ID, patterns_grant};
use uuid::Uuid;

/// One role a user is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    /// The role.
    pub role_id: Uuid,
    /// `roles.name` (`SystemAdmin`, `OrgUser`, …).
    pub name: String,
    /// `roles.display_name`.
    pub display_name: String,
    /// `None` for a system-scope binding, the org for an org-scope binding.
    pub org: Option<Uuid>,
    /// The role's permission codename patterns.
    pub permissions: Vec<String>,
}

/// The roles a user holds, as RBAC checks need them.
///
/// `system` and `orgs` are the patterns flattened per scope, for listing. Decisions
/// ([`UserRoles::grants`]) are made per role from `bindings`, because a role's `!` patterns
/// only take away from that role: SystemComponent's `!rbac.*` must not cancel what another
/// role of the same user grants. Build values with [`UserRoles::from_bindings`] so the views
/// agree with the bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRoles {
    /// Permission patterns of the user's system-scope roles, in order, without duplicates.
    pub system: Vec<String>,
    /// Per org, the permission patterns of the user's org-scope roles there.
    pub orgs: HashMap<Uuid, Vec<String>>,
    /// Whether the user holds the built-in SystemAdmin role.
    pub is_superuser: bool,
    /// Every binding, system ones first.
    pub bindings: Vec<RoleGrant>,
}

fn extend_unique(into: &mut Vec<String>, from: &[String]) {
    for p in from {
        if !into.contains(p) {
            into.push(p.clone());
        }
    }
}

impl UserRoles {
    /// Builds the views from the user's bindings.
    pub fn from_bindings(bindings: Vec<RoleGrant>) -> UserRoles {
        let mut system = Vec::new();
        let mut orgs: HashMap<Uuid, Vec<String>> = HashMap::new();
        let mut is_superuser = false;
        for b in &bindings {
            match b.org {
                None => {
                    is_superuser |= b.role_id == SYSTEM_ADMIN_ROLE_ID;
                    extend_unique(&mut system, &b.permissions);
                }
                Some(org) => extend_unique(orgs.entry(org).or_default(), &b.permissions),
            }
        }
        UserRoles {
            system,
            orgs,
            is_superuser,
            bindings,
        }
    }

    /// Whether the user holds `codename`: some system role grants it, or, when `org` is given,
    /// some role bound in that org grants it. Without an org only system roles count.
    pub fn grants(&self, org: Option<Uuid>, codename: &str) -> bool {
        self.bindings
            .iter()
            .filter(|b| b.org.is_none() || (org.is_some() && b.org == org))
            .any(|b| patterns_grant(&b.permissions, codename))
    }

    /// The orgs the user is a member of (holds an org role in), sorted.
    pub fn org_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.orgs.keys().copied().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: u128, org: Option<u128>, perms: &[&str]) -> RoleGrant {
        RoleGrant {
            role_id: Uuid::from_u128(role),
            name: format!("r{role}"),
            display_name: String::new(),
            org: org.map(Uuid::from_u128),
            permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn negations_stay_inside_their_role() {
        let roles = UserRoles::from_bindings(vec![
            grant(100, None, &["*", "!rbac.*"]),
            grant(101, None, &["rbac.view_audit"]),
        ]);
        assert!(roles.grants(None, "rbac.view_audit"));
        assert!(!roles.grants(None, "rbac.add_role"));
        assert!(roles.grants(None, "assets.view_asset"));
        assert_eq!(roles.system, ["*", "!rbac.*", "rbac.view_audit"]);
    }

    #[test]
    fn org_patterns_apply_only_in_their_org() {
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        let roles = UserRoles::from_bindings(vec![
            grant(3, None, &["users.view_profile"]),
            grant(7, Some(0xa), &["assets.view_asset"]),
            grant(5, Some(0xb), &["*"]),
        ]);
        assert!(roles.grants(Some(a), "assets.view_asset"));
        assert!(!roles.grants(Some(a), "assets.add_asset"));
        assert!(roles.grants(Some(b), "assets.add_asset"));
        assert!(!roles.grants(None, "assets.view_asset"));
        assert!(roles.grants(None, "users.view_profile"));
        assert!(roles.grants(Some(a), "users.view_profile"));
        assert_eq!(roles.org_ids(), vec![a, b]);
        assert!(!roles.is_superuser);
    }
}
