//! Login ACLs (user logging in to Portcullis) and asset-connect ACLs (JumpServer's
//! login-asset ACLs: user logging in to an asset with an account).
//!
//! Both are decided by the first ACL, in priority order, whose selectors match the subject and
//! whose rules match the request: the client IP is in `ip_group` and the local time is inside
//! `time_period`. No match means accept (see the [module docs](super)).
//!
//! JumpServer's licence-only `face_verify` / `face_online` connect actions are not supported.

use std::net::IpAddr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    AccountSelector, AclDecision, AclSubject, Attributes, IpSet, Selector, TimeWindows, by_priority,
};

/// What a login ACL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginAction {
    /// Refuse the login.
    Reject,
    /// Allow it (and stop evaluating lower-priority ACLs).
    #[default]
    Accept,
    /// Hold it until a reviewer approves.
    Review,
    /// Allow it and notify the reviewers.
    Notice,
}

/// What an asset-connect ACL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectAction {
    /// Refuse the connection.
    Reject,
    /// Allow it (and stop evaluating lower-priority ACLs).
    #[default]
    Accept,
    /// Hold it until a reviewer approves.
    Review,
    /// Allow it and notify the reviewers.
    Notice,
}

/// The request conditions of a login or connect ACL (`rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRules {
    /// Client addresses the ACL applies to; JumpServer's default is `["*"]`.
    #[serde(default = "IpSet::any")]
    pub ip_group: IpSet,
    /// When the ACL applies; the default is every day, all day.
    #[serde(default)]
    pub time_period: TimeWindows,
}

impl AclRules {
    /// Whether the request from `ip` at local time `at` is covered.
    pub fn matches(&self, ip: IpAddr, at: NaiveDateTime) -> bool {
        self.ip_group.contains(ip) && self.time_period.contains(at)
    }
}

impl Default for AclRules {
    /// Any address, any time.
    fn default() -> Self {
        AclRules {
            ip_group: IpSet::any(),
            time_period: TimeWindows::always(),
        }
    }
}

/// A login ACL (`/acls/login-acls/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginAcl {
    /// ACL id.
    pub id: Uuid,
    /// Name; second sort key.
    pub name: String,
    /// 1..=100, lower first.
    pub priority: u8,
    /// Inactive ACLs are skipped.
    pub is_active: bool,
    /// What happens when it decides.
    pub action: LoginAction,
    /// Which users it applies to.
    pub users: Selector,
    /// Client IP and time conditions.
    pub rules: AclRules,
    /// Reviewers for `review` / `notice`.
    #[serde(default)]
    pub reviewers: Vec<Uuid>,
}

/// An asset-connect ACL (`/acls/login-asset-acls/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectAcl {
    /// ACL id.
    pub id: Uuid,
    /// Name; second sort key.
    pub name: String,
    /// 1..=100, lower first.
    pub priority: u8,
    /// Inactive ACLs are skipped.
    pub is_active: bool,
    /// What happens when it decides.
    pub action: ConnectAction,
    /// Which users it applies to.
    pub users: Selector,
    /// Which assets.
    pub assets: Selector,
    /// Which accounts (usernames or `@ALL`).
    pub accounts: AccountSelector,
    /// Client IP and time conditions.
    pub rules: AclRules,
    /// Reviewers for `review` / `notice`.
    #[serde(default)]
    pub reviewers: Vec<Uuid>,
}

/// Decides a login by `user` from `ip` at local time `at`.
pub fn evaluate_login(
    acls: &[LoginAcl],
    user: &dyn Attributes,
    ip: IpAddr,
    at: NaiveDateTime,
) -> AclDecision<LoginAction> {
    let candidates = acls
        .iter()
        .filter(|a| a.is_active && a.users.matches(user))
        .collect();
    by_priority(candidates, |a: &LoginAcl| {
        (a.priority, a.name.as_str(), a.id)
    })
    .into_iter()
    .find(|a| a.rules.matches(ip, at))
    .map_or_else(AclDecision::default_accept, |a| AclDecision {
        action: a.action,
        acl_id: Some(a.id),
        reviewers: a.reviewers.clone(),
    })
}

/// Decides a connection of `subject` from `ip` at local time `at`.
pub fn evaluate_connect(
    acls: &[ConnectAcl],
    subject: &AclSubject<'_>,
    ip: IpAddr,
    at: NaiveDateTime,
) -> AclDecision<ConnectAction> {
    let candidates = acls
        .iter()
        .filter(|a| {
            a.is_active
                && a.users.matches(subject.user)
                && a.assets.matches(subject.asset)
                && a.accounts.matches(subject.account)
        })
        .collect();
    by_priority(candidates, |a: &ConnectAcl| {
        (a.priority, a.name.as_str(), a.id)
    })
    .into_iter()
    .find(|a| a.rules.matches(ip, at))
    .map_or_else(AclDecision::default_accept, |a| AclDecision {
        action: a.action,
        acl_id: Some(a.id),
        reviewers: a.reviewers.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::acl::{AttrMap, TimePeriodDay};
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use serde_json::json;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn alice() -> AttrMap {
        AttrMap::new(id(1), [("username", "alice")])
    }

    /// Monday 2025-01-06 at h:00.
    fn monday(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2025, 1, 6)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn office_hours() -> TimeWindows {
        TimeWindows::parse(
            &(1..=5)
                .map(|d| TimePeriodDay {
                    id: d,
                    value: "09:00~18:00".into(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn login_acl(n: u128, priority: u8, action: LoginAction, ips: &[&str]) -> LoginAcl {
        LoginAcl {
            id: id(0x100 + n),
            name: format!("acl{n}"),
            priority,
            is_active: true,
            action,
            users: Selector::ids([id(1)]),
            rules: AclRules {
                ip_group: IpSet::parse(ips).unwrap(),
                time_period: TimeWindows::always(),
            },
            reviewers: vec![id(0x900 + n)],
        }
    }

    #[test]
    fn login_first_match_by_priority_then_name() {
        let reject_lan = login_acl(1, 10, LoginAction::Reject, &["10.0.0.0/8"]);
        let accept_all = login_acl(2, 20, LoginAction::Accept, &["*"]);
        let review_all_same_prio = {
            let mut a = login_acl(3, 10, LoginAction::Review, &["*"]);
            a.name = "zz".into(); // after "acl1" at the same priority
            a
        };
        let mut inactive = login_acl(4, 1, LoginAction::Reject, &["*"]);
        inactive.is_active = false;
        let mut other_user = login_acl(5, 1, LoginAction::Reject, &["*"]);
        other_user.users = Selector::ids([id(2)]);
        let mut office = login_acl(6, 5, LoginAction::Notice, &["*"]);
        office.rules.time_period = office_hours();

        type Case = (
            &'static str,
            Vec<LoginAcl>,
            &'static str,
            u32,
            LoginAction,
            Option<u128>,
        );
        let cases: Vec<Case> = vec![
            (
                "no ACLs: default accept",
                vec![],
                "10.1.1.1",
                12,
                LoginAction::Accept,
                None,
            ),
            (
                "lower priority number wins",
                vec![accept_all.clone(), reject_lan.clone()],
                "10.1.1.1",
                12,
                LoginAction::Reject,
                Some(1),
            ),
            (
                "IP outside falls through",
                vec![accept_all.clone(), reject_lan.clone()],
                "192.168.1.1",
                12,
                LoginAction::Accept,
                Some(2),
            ),
            (
                "same priority: name order",
                vec![review_all_same_prio.clone(), reject_lan.clone()],
                "10.1.1.1",
                12,
                LoginAction::Reject,
                Some(1),
            ),
            (
                "same priority, first does not match IP",
                vec![review_all_same_prio.clone(), reject_lan.clone()],
                "8.8.8.8",
                12,
                LoginAction::Review,
                Some(3),
            ),
            (
                "inactive ACL skipped",
                vec![inactive],
                "10.1.1.1",
                12,
                LoginAction::Accept,
                None,
            ),
            (
                "other user's ACL skipped",
                vec![other_user],
                "10.1.1.1",
                12,
                LoginAction::Accept,
                None,
            ),
            (
                "inside time window",
                vec![office.clone(), accept_all.clone()],
                "8.8.8.8",
                12,
                LoginAction::Notice,
                Some(6),
            ),
            (
                "outside time window falls through",
                vec![office, accept_all],
                "8.8.8.8",
                20,
                LoginAction::Accept,
                Some(2),
            ),
            (
                "no match at all: default accept",
                vec![reject_lan],
                "8.8.8.8",
                12,
                LoginAction::Accept,
                None,
            ),
        ];
        for (why, acls, addr, hour, action, acl) in cases {
            let d = evaluate_login(&acls, &alice(), ip(addr), monday(hour));
            assert_eq!(d.action, action, "{why}");
            assert_eq!(d.acl_id, acl.map(|n| id(0x100 + n)), "{why}");
            assert_eq!(
                d.reviewers,
                acl.map(|n| vec![id(0x900 + n)]).unwrap_or_default(),
                "{why}"
            );
        }
    }

    fn connect_acl(n: u128, priority: u8, action: ConnectAction, accounts: &[&str]) -> ConnectAcl {
        ConnectAcl {
            id: id(0x100 + n),
            name: format!("c{n}"),
            priority,
            is_active: true,
            action,
            users: Selector::all(),
            assets: Selector::compile(
                &serde_json::from_value(json!({"type":"attrs","attrs":[
                    {"name":"address","match":"ip_in","value":["10.0.0.0/8"]}]}))
                .unwrap(),
            )
            .unwrap(),
            accounts: AccountSelector::new(accounts),
            rules: AclRules::default(),
            reviewers: vec![],
        }
    }

    #[test]
    fn connect_matches_users_assets_accounts_and_rules() {
        let prod = AttrMap::new(id(10), [("address", "10.2.3.4")]);
        let dev = AttrMap::new(id(11), [("address", "192.168.0.4")]);
        let acls = vec![
            connect_acl(1, 10, ConnectAction::Reject, &["root"]),
            connect_acl(2, 20, ConnectAction::Review, &["@ALL"]),
        ];
        let cases = [
            (&prod, "root", ConnectAction::Reject, Some(1)),
            (&prod, "deploy", ConnectAction::Review, Some(2)),
            (&dev, "root", ConnectAction::Accept, None),
        ];
        for (asset, account, action, acl) in cases {
            let s = AclSubject {
                user: &alice(),
                asset,
                account,
            };
            let d = evaluate_connect(&acls, &s, ip("1.1.1.1"), monday(12));
            assert_eq!(
                (d.action, d.acl_id),
                (action, acl.map(|n| id(0x100 + n))),
                "{account}"
            );
        }
        let mut no_accounts = connect_acl(3, 1, ConnectAction::Reject, &[]);
        no_accounts.accounts = AccountSelector::default();
        let s = AclSubject {
            user: &alice(),
            asset: &prod,
            account: "root",
        };
        let d = evaluate_connect(&[no_accounts], &s, ip("1.1.1.1"), monday(12));
        assert_eq!(d.acl_id, None, "an empty accounts list selects nothing");
    }

    #[test]
    fn acl_deserializes_from_api_shape() {
        let acl: LoginAcl = serde_json::from_value(json!({
            "id": id(7), "name": "n", "priority": 50, "is_active": true, "action": "review",
            "users": {"type": "all"},
            "rules": {"ip_group": ["10.0.0.0/8"], "time_period": [{"id": 1, "value": ""}]},
            "reviewers": [id(8)],
        }))
        .unwrap();
        assert_eq!(acl.action, LoginAction::Review);
        let d = evaluate_login(
            std::slice::from_ref(&acl),
            &alice(),
            ip("10.0.0.1"),
            monday(3),
        );
        assert_eq!(
            (d.action, d.acl_id, d.reviewers),
            (LoginAction::Review, Some(id(7)), vec![id(8)])
        );
        let rules: AclRules = serde_json::from_value(json!({})).unwrap();
        assert_eq!(rules, AclRules::default());
        assert!(
            serde_json::from_value::<LoginAcl>(json!({
                "id": id(7), "name": "n", "priority": 50, "is_active": true, "action": "review",
                "users": {"type": "all"}, "rules": {"ip_group": ["bad"]},
            }))
            .is_err()
        );
    }

    fn arb_acl() -> impl Strategy<Value = LoginAcl> {
        (0u128..6, 1u8..4, 0u8..4, 0u8..4, any::<bool>(), 0u8..3).prop_map(
            |(n, prio, action, ipsel, active, usersel)| {
                let action = [
                    LoginAction::Reject,
                    LoginAction::Accept,
                    LoginAction::Review,
                    LoginAction::Notice,
                ][action as usize];
                let ips: &[&str] =
                    [&["*"][..], &["10.0.0.0/8"], &["192.168.0.0/16"], &[]][ipsel as usize];
                let mut a = login_acl(n, prio, action, ips);
                a.is_active = active;
                a.name = format!("n{}", n % 3);
                a.users = match usersel {
                    0 => Selector::all(),
                    1 => Selector::ids([id(1)]),
                    _ => Selector::ids([id(2)]),
                };
                a
            },
        )
    }

    /// Ids are unique in real data; make them so here (the generator may repeat them).
    fn uniq(acls: Vec<LoginAcl>) -> Vec<LoginAcl> {
        acls.into_iter()
            .enumerate()
            .map(|(i, mut a)| {
                a.id = id(0x500 + i as u128);
                a
            })
            .collect()
    }

    proptest! {
        #[test]
        fn prop_login_decision_is_independent_of_acl_order(
            (acls, shuffled) in prop::collection::vec(arb_acl(), 0..8)
                .prop_map(uniq)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            client in prop::sample::select(vec!["10.1.1.1", "192.168.3.3", "8.8.8.8"]),
        ) {
            let a = evaluate_login(&acls, &alice(), ip(client), monday(12));
            let b = evaluate_login(&shuffled, &alice(), ip(client), monday(12));
            prop_assert_eq!(a, b);
        }

        #[test]
        fn prop_adding_a_non_matching_acl_never_changes_the_decision(
            acls in prop::collection::vec(arb_acl(), 0..8).prop_map(uniq),
            extra in arb_acl(),
            why in 0u8..3,
            at in any::<prop::sample::Index>(),
        ) {
            let mut extra = extra;
            extra.id = id(0x999);
            match why {
                0 => extra.is_active = false,
                1 => extra.users = Selector::ids([id(99)]),
                _ => extra.rules.ip_group = IpSet::parse(&["172.16.0.0/12"]).unwrap(),
            }
            let before = evaluate_login(&acls, &alice(), ip("10.1.1.1"), monday(12));
            let mut more = acls.clone();
            more.insert(at.index(more.len() + 1), extra);
            let after = evaluate_login(&more, &alice(), ip("10.1.1.1"), monday(12));
            prop_assert_eq!(before, after);
        }

        #[test]
        fn prop_decision_comes_from_the_minimum_matching_acl(
            acls in prop::collection::vec(arb_acl(), 0..8).prop_map(uniq),
        ) {
            let d = evaluate_login(&acls, &alice(), ip("10.1.1.1"), monday(12));
            let best = acls
                .iter()
                .filter(|a| a.is_active && a.users.matches(&alice()) && a.rules.matches(ip("10.1.1.1"), monday(12)))
                .min_by(|a, b| (a.priority, &a.name, a.id).cmp(&(b.priority, &b.name, b.id)));
            prop_assert_eq!(d.acl_id, best.map(|a| a.id));
            prop_assert_eq!(d.action, best.map_or(LoginAction::Accept, |a| a.action));
        }
    }
}
