//! What a command-filter decision means inside a session: whether the command runs, its
//! risk level in the command log, and what the user is told.
//!
//! The decision is the core's ([`crate::authorize::CommandPolicy::decide`]); this module only
//! maps it onto the session, so the SSH terminal, exec requests and (later) the web terminal
//! treat a decision the same way.

use portcullis_core::acl::{CommandAction, CommandDecision};

/// JumpServer's command risk levels.
pub mod risk {
    /// Accepted.
    pub const ACCEPT: i64 = 0;
    /// Accepted with a warning.
    pub const WARNING: i64 = 4;
    /// Rejected.
    pub const REJECT: i64 = 5;
    /// A review rejected it (or no review was possible).
    pub const REVIEW_REJECT: i64 = 6;
    /// A review accepted it.
    pub const REVIEW_ACCEPT: i64 = 7;
    /// The user cancelled the review.
    pub const REVIEW_CANCEL: i64 = 8;
}

/// What the session does with one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The command may run.
    pub run: bool,
    /// Risk level for the command log.
    pub risk_level: i64,
    /// A line for the user's terminal (without colour or line ending), if any.
    pub notice: Option<String>,
}

/// Maps the core's decision for `command` onto the session.
///
/// `review` is refused with a clear message: command reviews need the ticket flow, which this
/// gateway does not offer yet, and holding a command nobody can approve would hang the
/// session. `notify_and_warn` runs the command and records it as a warning (no notification
/// channel exists yet).
pub fn verdict(decision: &CommandDecision, command: &str) -> Verdict {
    match decision.action {
        CommandAction::Accept => Verdict {
            run: true,
            risk_level: risk::ACCEPT,
            notice: None,
        },
        CommandAction::Warning | CommandAction::NotifyAndWarn => Verdict {
            run: true,
            risk_level: risk::WARNING,
            notice: None,
        },
        CommandAction::Reject => Verdict {
            run: false,
            risk_level: risk::REJECT,
            notice: Some(format!("Command `{command}` is forbidden")),
        },
        CommandAction::Review => Verdict {
            run: false,
            risk_level: risk::REVIEW_REJECT,
            notice: Some(format!(
                "Command `{command}` requires a reviewer's approval, which this gateway cannot \
                 request yet; it was not run"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn decision(action: CommandAction) -> CommandDecision {
        CommandDecision {
            action,
            acl_id: Some(Uuid::nil()),
            group_id: Some(Uuid::nil()),
            reviewers: vec![],
        }
    }

    #[test]
    fn reject_blocks_and_says_so() {
        let v = verdict(&decision(CommandAction::Reject), "rm -rf /");
        assert!(!v.run);
        assert_eq!(v.risk_level, risk::REJECT);
        assert_eq!(v.notice.as_deref(), Some("Command `rm -rf /` is forbidden"));
    }

    #[test]
    fn warnings_run_but_are_marked() {
        for a in [CommandAction::Warning, CommandAction::NotifyAndWarn] {
            let v = verdict(&decision(a), "reboot");
            assert!(v.run);
            assert_eq!(v.risk_level, risk::WARNING);
        }
    }

    #[test]
    fn accept_runs_silently() {
        let v = verdict(&decision(CommandAction::Accept), "ls");
        assert_eq!(
            v,
            Verdict {
                run: true,
                risk_level: risk::ACCEPT,
                notice: None
            }
        );
    }

    #[test]
    fn review_is_refused_not_held() {
        let v = verdict(&decision(CommandAction::Review), "shutdown");
        assert!(!v.run);
        assert_eq!(v.risk_level, risk::REVIEW_REJECT);
    }
}
