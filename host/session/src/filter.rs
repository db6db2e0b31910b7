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
pub enum Verdict {
    /// Run it; record it with this risk level.
    Run {
        /// Risk level for the command log.
        risk_level: i64,
    },
    /// Refuse it and tell the user.
    Refuse {
        /// Risk level for the command log.
        risk_level: i64,
        /// The line for the user's terminal (no colour, no line ending).
        notice: String,
    },
    /// Hold it until one of `reviewers` approves it (see [`crate::review`]).
    Review {
        /// The ACL that asked for the review.
        acl_id: Option<uuid::Uuid>,
        /// Who may approve.
        reviewers: Vec<uuid::Uuid>,
    },
}

/// The refusal line for a command.
pub fn forbidden(command: &str) -> String {
    format!("Command `{command}` is forbidden")
}

/// Maps the core's decision for `command` onto the session. `notify_and_warn` runs the
/// command and records it as a warning (there is no notification channel yet).
pub fn verdict(decision: &CommandDecision, command: &str) -> Verdict {
    match decision.action {
        CommandAction::Accept => Verdict::Run {
            risk_level: risk::ACCEPT,
        },
        CommandAction::Warning | CommandAction::NotifyAndWarn => Verdict::Run {
            risk_level: risk::WARNING,
        },
        CommandAction::Reject => Verdict::Refuse {
            risk_level: risk::REJECT,
            notice: forbidden(command),
        },
        CommandAction::Review if decision.reviewers.is_empty() => Verdict::Refuse {
            risk_level: risk::REVIEW_REJECT,
            notice: format!(
                "Command `{command}` needs a review, but its rule names no reviewer; it was not run"
            ),
        },
        CommandAction::Review => Verdict::Review {
            acl_id: decision.acl_id,
            reviewers: decision.reviewers.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn decision(action: CommandAction, reviewers: Vec<Uuid>) -> CommandDecision {
        CommandDecision {
            action,
            acl_id: Some(Uuid::nil()),
            group_id: Some(Uuid::nil()),
            reviewers,
        }
    }

    #[test]
    fn reject_blocks_and_says_so() {
        let v = verdict(&decision(CommandAction::Reject, vec![]), "rm -rf /");
        assert_eq!(
            v,
            Verdict::Refuse {
                risk_level: risk::REJECT,
                notice: "Command `rm -rf /` is forbidden".into()
            }
        );
    }

    #[test]
    fn warnings_run_but_are_marked() {
        for a in [CommandAction::Warning, CommandAction::NotifyAndWarn] {
            assert_eq!(
                verdict(&decision(a, vec![]), "reboot"),
                Verdict::Run {
                    risk_level: risk::WARNING
                }
            );
        }
    }

    #[test]
    fn accept_runs_silently() {
        assert_eq!(
            verdict(&decision(CommandAction::Accept, vec![]), "ls"),
            Verdict::Run {
                risk_level: risk::ACCEPT
            }
        );
    }

    #[test]
    fn review_holds_for_the_reviewers() {
        let r = Uuid::from_u128(7);
        assert_eq!(
            verdict(&decision(CommandAction::Review, vec![r]), "shutdown"),
            Verdict::Review {
                acl_id: Some(Uuid::nil()),
                reviewers: vec![r]
            }
        );
    }

    #[test]
    fn a_review_nobody_can_give_is_a_refusal() {
        let v = verdict(&decision(CommandAction::Review, vec![]), "shutdown");
        assert!(matches!(
            v,
            Verdict::Refuse {
                risk_level: risk::REVIEW_REJECT,
                ..
            }
        ));
    }
}
