//! ACL evaluation: login ACLs, asset-connect ACLs, connect-method ACLs and command filters.
//!
//! Every ACL kind follows the same first-match scheme, JumpServer's: take the active ACLs whose
//! selectors match the subject, order them by `priority` ascending (1 is checked first), then
//! by name, then by id so that the order is total and the decision never depends on the order
//! the store returned the rows in; the first ACL whose conditions hold decides. When none does,
//! the default is **accept**: ACLs are exceptions layered on top of permissions, which already
//! decided that the user may reach the asset at all.
//!
//! Each decision carries the id of the ACL that decided (or `None` for the default) so callers
//! can write it to the audit log, and the ACL's reviewers for `review` actions.
//!
//! ACLs belong to an org; the caller passes the ACLs of the relevant org (plus global ones).
//!
//! Modules: [`ip`] (IP sets), [`time`] (weekly windows), [`selector`] (user/asset selectors and
//! the accounts list), [`login`] (login and asset-connect ACLs), [`connect_method`], and
//! [`command`] (command groups and command-filter ACLs, including the shell-word normaliser).

pub mod command;
pub mod connect_method;
pub mod ip;
pub mod login;
pub mod selector;
mod shell;
pub mod time;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

pub use command::{
    CommandAction, CommandDecision, CommandFilterAcl, CommandGroup, CommandGroupError,
    CommandGroupKind, CommandGroupSet, CompiledCommandGroup, evaluate_command,
    normalize_command_line,
};
pub use connect_method::{ConnectMethodAcl, ConnectMethodAction, evaluate_connect_method};
pub use ip::{IpSet, IpSetError};
pub use login::{
    AclRules, ConnectAcl, ConnectAction, LoginAcl, LoginAction, evaluate_connect, evaluate_login,
};
pub use selector::{
    AccountSelector, AttrMap, AttrRuleSpec, Attributes, MatchOp, Selector, SelectorError,
    SelectorSpec,
};
pub use time::{TimePeriodDay, TimePeriodError, TimeWindows};

/// The priority a new ACL gets when none is given (JumpServer's default).
pub const DEFAULT_PRIORITY: u8 = 50;

/// A priority outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid ACL priority {0}: must be between 1 and 100")]
pub struct InvalidPriority(pub i64);

/// Validates an ACL priority from the API (1..=100; lower is checked first).
///
/// Evaluation itself accepts any `u8` and simply orders by it, so a stored out-of-range value
/// still evaluates deterministically.
pub fn validate_priority(p: i64) -> Result<u8, InvalidPriority> {
    u8::try_from(p)
        .ok()
        .filter(|v| (1..=100).contains(v))
        .ok_or(InvalidPriority(p))
}

/// The outcome of a login, connect or connect-method evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclDecision<A> {
    /// What to do.
    pub action: A,
    /// The ACL that decided; `None` when no ACL matched and the default applied.
    pub acl_id: Option<Uuid>,
    /// That ACL's reviewers (for `review`); empty for the default.
    pub reviewers: Vec<Uuid>,
}

impl<A: Default> AclDecision<A> {
    /// The decision when no ACL matches: the action's default (accept).
    pub fn default_accept() -> Self {
        AclDecision {
            action: A::default(),
            acl_id: None,
            reviewers: Vec::new(),
        }
    }
}

/// The subject of an asset-side check: who connects, to what, as which account.
#[derive(Clone, Copy)]
pub struct AclSubject<'a> {
    /// The user (`users` selectors).
    pub user: &'a dyn Attributes,
    /// The asset (`assets` selectors; `address` is the usual `ip_in` attribute).
    pub asset: &'a dyn Attributes,
    /// The account's username (`accounts` lists). For virtual accounts, the username actually
    /// used (typed or the user's own).
    pub account: &'a str,
}

/// Sorts candidate ACLs into evaluation order: priority, then name, then id.
fn by_priority<T>(mut candidates: Vec<&T>, key: impl Fn(&T) -> (u8, &str, Uuid)) -> Vec<&T> {
    candidates.sort_by(|a, b| key(a).cmp(&key(b)));
    candidates
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn priority_validation() {
        assert_eq!(validate_priority(1), Ok(1));
        assert_eq!(validate_priority(100), Ok(100));
        assert_eq!(validate_priority(0), Err(InvalidPriority(0)));
        assert_eq!(validate_priority(101), Err(InvalidPriority(101)));
        assert_eq!(validate_priority(-5), Err(InvalidPriority(-5)));
        assert_eq!(validate_priority(1 << 40), Err(InvalidPriority(1 << 40)));
    }
}
