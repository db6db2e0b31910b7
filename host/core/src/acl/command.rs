//! Command groups and command-filter ACLs.
//!
//! A [`CommandGroup`] holds one entry per line, either commands or regexes. It is compiled
//! once into a [`CompiledCommandGroup`] (an invalid regex is an error naming the group and the
//! line), and a [`CommandGroupSet`] holds the compiled groups by id. [`evaluate_command`] then
//! decides each command line a user submits: the first active [`CommandFilterAcl`], in
//! priority order, whose users/assets/accounts match the session and one of whose groups
//! matches the line decides; no match means accept.
//!
//! # Matching `command` groups
//!
//! Each line is a command, possibly with arguments (`rm -rf /`). It matches when it appears at
//! a *command position* of the input:
//!
//! * at the start of a line, or after `;`, `&&`, `||`, `|`, `&`, `$(`, `` ` ``, `(`, `{`, `!`;
//! * optionally after shell keywords and wrappers (`then`, `do`, `else`, `elif`, `if`, `while`,
//!   `until`, `sudo`, `doas`, `env`, `nohup`, `nice`, `time`, `exec`, `command`, `builtin`,
//!   `xargs`, `stdbuf`), each with `-options` (and one option argument, for `sudo -u root`),
//!   and optionally after `NAME=value` environment assignments;
//! * optionally with a directory prefix when the entry's command has none (`/bin/rm` matches
//!   `rm`);
//! * followed by the end of the line, whitespace or a separator (`;`, `&`, `|`, `)`, `` ` ``,
//!   `<`, `>`).
//!
//! Arguments must follow in the order written, separated by any whitespace. So `rm` matches
//! `ls; rm -rf x`, `sudo rm x`, `FOO=1 /usr/bin/rm x`, but not `rmdir`, `farm` or `echo rm`;
//! `rm -rf /` matches `rm  -rf /` but not `rm -rf /tmp`.
//!
//! `regex` groups match when any line's regex finds a match anywhere in the input
//! (multi-line mode, so `^`/`$` also match at embedded newlines). `ignore_case` applies to
//! both kinds.
//!
//! Both kinds are tried against the raw line and against the line passed through
//! [`normalize_command_line`], so `r""m`, `r''m`, `\rm` and `"rm"` match `rm`.
//!
//! # Known limits
//!
//! This is a filter over what the user typed, not a shell. It does not see through: variable
//! and parameter expansion (`$X`, `${IFS}`, `r${x}m`), command substitution producing the name
//! (`$(echo rm)`), globbing (`/bin/r?`), aliases and functions, `eval`/`sh -c '…'` strings
//! (quoted payloads keep their quotes, so the payload is matched only where its text sits at a
//! command position), encoded payloads (`base64 -d | sh`), options reordered or merged
//! (`rm -fr /` vs `rm -rf /`), or commands typed inside interactive programs (editors, REPLs).
//! The wrapper handling errs towards matching: `sudo -k foo rm` matches `rm`. For strong
//! guarantees, restrict what the account can do on the asset itself.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

pub use super::shell::normalize_command_line;
use super::{AccountSelector, AclSubject, Selector, by_priority};

/// How a command group's lines are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandGroupKind {
    /// Each line is a command, matched at command positions.
    #[default]
    Command,
    /// Each line is a regex, matched anywhere.
    Regex,
}

/// A command group as stored (`/acls/command-groups/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandGroup {
    /// Group id.
    pub id: Uuid,
    /// Name, used in error messages.
    pub name: String,
    /// Command list or regex list (JSON field `type`).
    #[serde(rename = "type")]
    pub kind: CommandGroupKind,
    /// One entry per line; blank lines are ignored and entries are trimmed.
    pub content: String,
    /// Match case-insensitively (JumpServer's default is true).
    #[serde(default = "default_true")]
    pub ignore_case: bool,
}

fn default_true() -> bool {
    true
}

/// A command group line that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "command group {group_name:?} ({group_id}), line {line}: invalid pattern {pattern:?}: {message}"
)]
pub struct CommandGroupError {
    /// The group's id.
    pub group_id: Uuid,
    /// The group's name.
    pub group_name: String,
    /// 1-based line number in `content`.
    pub line: usize,
    /// The line's text.
    pub pattern: String,
    /// The regex crate's message.
    pub message: String,
}

/// Keywords and wrappers after which a command position continues; see the module docs.
const WRAPPERS: &str = r"then|do|else|elif|if|while|until|sudo|doas|env|nohup|nice|time|exec|command|builtin|xargs|stdbuf";

/// Builds the regex for one `command` line (already trimmed, non-empty).
fn command_pattern(entry: &str) -> String {
    let words: Vec<&str> = entry.split_whitespace().collect();
    let body = words
        .iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join(r"\s+");
    let path = if words.first().is_some_and(|w| w.contains('/')) {
        ""
    } else {
        r"(?:[^\s;&|()`<>]*/)?"
    };
    format!(
        concat!(
            r"(?:^|[;&|`({{!])\s*",
            // wrappers with options (and one option argument), env assignments
            r"(?:(?:(?:{wrappers})(?:\s+-\S*(?:\s+[^-\s;&|()`<>]\S*)?)*\s+)",
            r"|(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+))*",
            r"{path}{body}(?:$|[\s;&|)`<>])"
        ),
        wrappers = WRAPPERS,
        path = path,
        body = body,
    )
}

/// A compiled command group.
#[derive(Debug, Clone)]
pub struct CompiledCommandGroup {
    id: Uuid,
    name: String,
    patterns: Vec<Regex>,
}

impl CompiledCommandGroup {
    /// Compiles `group`; fails on the first line that is not a valid regex (for `regex`
    /// groups) or whose generated pattern is too large.
    pub fn compile(group: &CommandGroup) -> Result<CompiledCommandGroup, CommandGroupError> {
        let mut patterns = Vec::new();
        for (n, raw) in group.content.lines().enumerate() {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let source = match group.kind {
                CommandGroupKind::Command => command_pattern(entry),
                CommandGroupKind::Regex => entry.to_owned(),
            };
            let re = RegexBuilder::new(&source)
                .case_insensitive(group.ignore_case)
                .multi_line(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| CommandGroupError {
                    group_id: group.id,
                    group_name: group.name.clone(),
                    line: n + 1,
                    pattern: entry.to_owned(),
                    message: e.to_string(),
                })?;
            patterns.push(re);
        }
        Ok(CompiledCommandGroup {
            id: group.id,
            name: group.name.clone(),
            patterns,
        })
    }

    /// The group's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the group matches `command_line` (raw or normalised).
    pub fn matches(&self, command_line: &str) -> bool {
        let normalized = normalize_command_line(command_line);
        self.matches_prepared(command_line, &normalized)
    }

    fn matches_prepared(&self, raw: &str, normalized: &str) -> bool {
        self.patterns
            .iter()
            .any(|re| re.is_match(raw) || (normalized != raw && re.is_match(normalized)))
    }
}

/// Compiled command groups by id, built once when ACLs are loaded.
#[derive(Debug, Clone, Default)]
pub struct CommandGroupSet {
    groups: HashMap<Uuid, CompiledCommandGroup>,
}

impl CommandGroupSet {
    /// Compiles every group, failing on the first invalid one. Callers that must keep
    /// filtering while one group is broken can compile groups one by one with
    /// [`CompiledCommandGroup::compile`] and [`CommandGroupSet::insert`]; a group left out
    /// simply never matches, which for a `reject` ACL means the commands it lists pass, so
    /// surface such errors loudly.
    pub fn compile(groups: &[CommandGroup]) -> Result<CommandGroupSet, CommandGroupError> {
        let mut set = CommandGroupSet::default();
        for g in groups {
            set.insert(CompiledCommandGroup::compile(g)?);
        }
        Ok(set)
    }

    /// Adds or replaces a compiled group.
    pub fn insert(&mut self, group: CompiledCommandGroup) {
        self.groups.insert(group.id, group);
    }

    /// The compiled group with this id.
    pub fn get(&self, id: &Uuid) -> Option<&CompiledCommandGroup> {
        self.groups.get(id)
    }
}

/// What a command-filter ACL does with a matching command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandAction {
    /// Refuse the command.
    Reject,
    /// Let it run (and stop evaluating lower-priority ACLs).
    #[default]
    Accept,
    /// Hold it until a reviewer allows or rejects it; the session waits.
    Review,
    /// Let it run and warn (recorded as a risky command).
    Warning,
    /// Let it run, warn, and notify the reviewers.
    NotifyAndWarn,
}

/// A command-filter ACL (`/acls/command-filter-acls/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandFilterAcl {
    /// ACL id.
    pub id: Uuid,
    /// Name; second sort key.
    pub name: String,
    /// 1..=100, lower first.
    pub priority: u8,
    /// Inactive ACLs are skipped.
    pub is_active: bool,
    /// What happens when it decides.
    pub action: CommandAction,
    /// Which users it applies to.
    pub users: Selector,
    /// Which assets.
    pub assets: Selector,
    /// Which accounts (usernames or `@ALL`).
    pub accounts: AccountSelector,
    /// The command groups checked, in this order. Ids missing from the
    /// [`CommandGroupSet`] are ignored.
    pub command_groups: Vec<Uuid>,
    /// Reviewers for `review` / `notify_and_warn`.
    #[serde(default)]
    pub reviewers: Vec<Uuid>,
}

/// The outcome of [`evaluate_command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandDecision {
    /// What to do with the command.
    pub action: CommandAction,
    /// The ACL that decided; `None` for the default accept.
    pub acl_id: Option<Uuid>,
    /// The command group that matched; `None` for the default accept.
    pub group_id: Option<Uuid>,
    /// The deciding ACL's reviewers.
    pub reviewers: Vec<Uuid>,
}

/// Decides `command_line` typed by `subject`'s user on `subject`'s asset and account.
pub fn evaluate_command(
    acls: &[CommandFilterAcl],
    groups: &CommandGroupSet,
    subject: &AclSubject<'_>,
    command_line: &str,
) -> CommandDecision {
    let normalized = normalize_command_line(command_line);
    let candidates = acls
        .iter()
        .filter(|a| {
            a.is_active
                && a.users.matches(subject.user)
                && a.assets.matches(subject.asset)
                && a.accounts.matches(subject.account)
        })
        .collect();
    for acl in by_priority(candidates, |a: &CommandFilterAcl| {
        (a.priority, a.name.as_str(), a.id)
    }) {
        let hit = acl
            .command_groups
            .iter()
            .filter_map(|gid| groups.get(gid))
            .find(|g| g.matches_prepared(command_line, &normalized));
        if let Some(g) = hit {
            return CommandDecision {
                action: acl.action,
                acl_id: Some(acl.id),
                group_id: Some(g.id),
                reviewers: acl.reviewers.clone(),
            };
        }
    }
    CommandDecision {
        action: CommandAction::Accept,
        acl_id: None,
        group_id: None,
        reviewers: Vec::new(),
    }
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

    fn group(n: u128, kind: CommandGroupKind, content: &str, ignore_case: bool) -> CommandGroup {
        CommandGroup {
            id: id(0x200 + n),
            name: format!("g{n}"),
            kind,
            content: content.to_owned(),
            ignore_case,
        }
    }

    fn cmd(content: &str) -> CompiledCommandGroup {
        CompiledCommandGroup::compile(&group(0, CommandGroupKind::Command, content, false)).unwrap()
    }

    #[test]
    fn command_entries_match_at_command_positions_only() {
        let rm = cmd("rm");
        let cases = [
            ("rm", true),
            ("rm -rf x", true),
            ("  rm x", true),
            ("ls; rm -rf x", true),
            ("ls;rm x", true),
            ("true && rm x", true),
            ("false || rm x", true),
            ("cat f | rm x", true),
            ("sleep 1 & rm x", true),
            ("echo $(rm x)", true),
            ("echo `rm x`", true),
            ("(rm x)", true),
            ("{ rm x; }", true),
            ("sudo rm x", true),
            ("sudo -u root rm x", true),
            ("sudo -E env FOO=1 rm x", true),
            ("FOO=bar rm x", true),
            ("A=1 B=2 rm x", true),
            ("/bin/rm -rf x", true),
            ("/usr/bin/rm x", true),
            ("if true; then rm x; fi", true),
            ("find . | xargs rm", true),
            ("ls\nrm x", true),
            ("rm>out", true),
            ("rmdir x", false),
            ("farm", false),
            ("echo rm", false),
            ("ls -l rm", false),
            ("lsrm", false),
            ("alarm; rmx", false),
            ("", false),
        ];
        for (line, want) in cases {
            assert_eq!(rm.matches(line), want, "{line:?}");
        }
    }

    #[test]
    fn command_entries_with_arguments_match_the_sequence() {
        let g = cmd("rm -rf /\n\n  shutdown  \nchmod 777");
        let cases = [
            ("rm -rf /", true),
            ("rm   -rf   /", true),
            ("sudo rm -rf / ", true),
            ("rm -rf /tmp", false),
            ("rm -fr /", false),
            ("rm -rf x", false),
            ("shutdown -h now", true),
            ("chmod 777 f", true),
            ("chmod 7777 f", false),
            ("chmod 755 f", false),
        ];
        for (line, want) in cases {
            assert_eq!(g.matches(line), want, "{line:?}");
        }
    }

    #[test]
    fn quoting_tricks_still_match() {
        let rm = cmd("rm");
        for line in [
            r#"r""m -rf x"#,
            "r''m -rf x",
            r"\rm -rf x",
            r#""rm" -rf x"#,
            r#"'r'"m" x"#,
            "$'rm' x",
            r#"ls; "r"m x"#,
            r#"sudo r""m x"#,
        ] {
            assert!(rm.matches(line), "{line:?}");
        }
        assert!(
            !rm.matches(r#"r"m x"#),
            "unbalanced quote is a different word"
        );
        assert!(!rm.matches(r#"echo "rm""#), "argument, not a command");
    }

    #[test]
    fn ignore_case_applies_to_both_kinds() {
        let sensitive = cmd("reboot");
        assert!(!sensitive.matches("REBOOT"));
        let insensitive =
            CompiledCommandGroup::compile(&group(1, CommandGroupKind::Command, "reboot", true))
                .unwrap();
        assert!(insensitive.matches("REBOOT"));
        let re = CompiledCommandGroup::compile(&group(
            2,
            CommandGroupKind::Regex,
            "^drop\\s+table",
            true,
        ))
        .unwrap();
        assert!(re.matches("DROP TABLE users"));
        assert!(re.matches("select 1;\ndrop table x"), "multi-line ^");
        assert!(!re.matches("select 'drop table'"));
    }

    #[test]
    fn regex_group_lines_match_anywhere_and_errors_name_group_and_line() {
        let g = CompiledCommandGroup::compile(&group(
            3,
            CommandGroupKind::Regex,
            "passwd\\s+\\w+\ncat\\s+/etc/shadow",
            false,
        ))
        .unwrap();
        assert!(g.matches("sudo passwd bob"));
        assert!(g.matches("less x; cat /etc/shadow"));
        assert!(!g.matches("cat /etc/passwd"));
        let err = CompiledCommandGroup::compile(&group(
            4,
            CommandGroupKind::Regex,
            "ok\n\n(unclosed",
            false,
        ))
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.group_name, "g4");
        assert_eq!(err.group_id, id(0x204));
        assert_eq!(err.pattern, "(unclosed");
        assert!(err.to_string().contains("g4") && err.to_string().contains("line 3"));
        assert!(
            CommandGroupSet::compile(&[group(4, CommandGroupKind::Regex, "(", false)]).is_err()
        );
        // A command entry full of metacharacters is escaped, so it always compiles.
        assert!(
            CompiledCommandGroup::compile(&group(5, CommandGroupKind::Command, "(a|b]*", false))
                .is_ok()
        );
        let empty =
            CompiledCommandGroup::compile(&group(6, CommandGroupKind::Command, "\n \n", false))
                .unwrap();
        assert!(!empty.matches("anything"));
    }

    fn acl(n: u128, priority: u8, action: CommandAction, groups: &[u128]) -> CommandFilterAcl {
        CommandFilterAcl {
            id: id(0x100 + n),
            name: format!("acl{n}"),
            priority,
            is_active: true,
            action,
            users: Selector::all(),
            assets: Selector::all(),
            accounts: AccountSelector::all(),
            command_groups: groups.iter().map(|g| id(0x200 + g)).collect(),
            reviewers: vec![],
        }
    }

    fn groups() -> CommandGroupSet {
        CommandGroupSet::compile(&[
            group(1, CommandGroupKind::Command, "rm\nshutdown", true),
            group(2, CommandGroupKind::Command, "rm -rf /", true),
            group(3, CommandGroupKind::Regex, "^ls\\b", true),
        ])
        .unwrap()
    }

    fn check(acls: &[CommandFilterAcl], account: &str, line: &str) -> CommandDecision {
        let user = AttrMap::new(id(1), [("username", "alice")]);
        let asset = AttrMap::new(id(2), [("address", "10.0.0.1")]);
        let s = AclSubject {
            user: &user,
            asset: &asset,
            account,
        };
        evaluate_command(acls, &groups(), &s, line)
    }

    #[test]
    fn command_acls_first_match_by_priority() {
        let accept_safe_rm = {
            let mut a = acl(1, 10, CommandAction::Accept, &[1]);
            a.accounts = AccountSelector::new(&["deploy"]);
            a
        };
        let reject_rm = acl(2, 20, CommandAction::Reject, &[2, 1]);
        let review_ls = acl(3, 30, CommandAction::Review, &[3]);
        let mut inactive = acl(4, 1, CommandAction::Reject, &[3]);
        inactive.is_active = false;
        let mut other_asset = acl(5, 1, CommandAction::Reject, &[3]);
        other_asset.assets = Selector::ids([id(99)]);
        let missing_group = acl(6, 1, CommandAction::Reject, &[42]);
        let acls = vec![
            review_ls,
            reject_rm,
            accept_safe_rm,
            inactive,
            other_asset,
            missing_group,
        ];
        type Case = (
            &'static str,
            &'static str,
            CommandAction,
            Option<u128>,
            Option<u128>,
        );
        let cases: [Case; 6] = [
            ("root", "rm -rf /", CommandAction::Reject, Some(2), Some(2)),
            (
                "root",
                "shutdown now",
                CommandAction::Reject,
                Some(2),
                Some(1),
            ),
            (
                "deploy",
                "rm -rf /",
                CommandAction::Accept,
                Some(1),
                Some(1),
            ),
            ("root", "ls -l", CommandAction::Review, Some(3), Some(3)),
            ("root", "LS", CommandAction::Review, Some(3), Some(3)),
            ("root", "cat x", CommandAction::Accept, None, None),
        ];
        for (account, line, action, acl_n, group_n) in cases {
            let d = check(&acls, account, line);
            assert_eq!(d.action, action, "{account} {line}");
            assert_eq!(d.acl_id, acl_n.map(|n| id(0x100 + n)), "{account} {line}");
            assert_eq!(
                d.group_id,
                group_n.map(|n| id(0x200 + n)),
                "{account} {line}"
            );
        }
    }

    #[test]
    fn command_group_deserializes_from_api_shape() {
        let g: CommandGroup = serde_json::from_value(serde_json::json!({
            "id": id(9), "name": "danger", "type": "regex", "content": "^rm"
        }))
        .unwrap();
        assert_eq!(g.kind, CommandGroupKind::Regex);
        assert!(g.ignore_case, "defaults to true like JumpServer");
        let a: CommandAction = serde_json::from_str("\"notify_and_warn\"").unwrap();
        assert_eq!(a, CommandAction::NotifyAndWarn);
    }

    fn arb_acl() -> impl Strategy<Value = CommandFilterAcl> {
        (
            1u8..4,
            0u8..5,
            prop::collection::vec(1u128..4, 0..3),
            any::<bool>(),
            0u8..3,
        )
            .prop_map(|(prio, action, gs, active, name)| {
                let action = [
                    CommandAction::Reject,
                    CommandAction::Accept,
                    CommandAction::Review,
                    CommandAction::Warning,
                    CommandAction::NotifyAndWarn,
                ][action as usize];
                let mut a = acl(0, prio, action, &gs);
                a.is_active = active;
                a.name = format!("n{name}");
                a
            })
    }

    fn uniq(acls: Vec<CommandFilterAcl>) -> Vec<CommandFilterAcl> {
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
        fn prop_command_decision_is_independent_of_acl_order(
            (acls, shuffled) in prop::collection::vec(arb_acl(), 0..8)
                .prop_map(uniq)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            line in prop::sample::select(vec!["rm -rf /", "ls", "shutdown", "echo hi"]),
        ) {
            prop_assert_eq!(check(&acls, "root", line), check(&shuffled, "root", line));
        }

        #[test]
        fn prop_adding_a_non_matching_command_acl_never_changes_the_decision(
            acls in prop::collection::vec(arb_acl(), 0..8).prop_map(uniq),
            at in any::<prop::sample::Index>(),
            why in 0u8..4,
            line in prop::sample::select(vec!["rm -rf /", "ls", "shutdown", "echo hi"]),
        ) {
            let mut extra = acl(0x99, 1, CommandAction::Reject, &[1, 2, 3]);
            match why {
                0 => extra.is_active = false,
                1 => extra.users = Selector::ids([id(77)]),
                2 => extra.accounts = AccountSelector::new(&["nobody"]),
                _ => extra.command_groups.clear(),
            }
            let before = check(&acls, "root", line);
            let mut more = acls.clone();
            more.insert(at.index(more.len() + 1), extra);
            prop_assert_eq!(before, check(&more, "root", line));
        }

        #[test]
        fn prop_command_at_any_position_matches(
            prefix in prop::sample::select(vec!["", "ls; ", "ls && ", "ls || ", "ls | ", "ls & ", "$(", "`", "(", "sudo ", "X=1 ", "/bin/"]),
            suffix in prop::sample::select(vec!["", " -rf x", ";ls", "|ls", ")", "`", " "]),
            quote in 0u8..4,
        ) {
            let word = match quote {
                0 => "rm",
                1 => r#"r""m"#,
                2 => r"\rm",
                _ => "'rm'",
            };
            let line = format!("{prefix}{word}{suffix}");
            prop_assert!(cmd("rm").matches(&line), "{}", line);
        }

        #[test]
        fn prop_command_inside_a_longer_word_never_matches(
            before in "[a-z]{1,3}",
            after in "[a-z0-9_]{1,3}",
            prefix in prop::sample::select(vec!["", "ls; ", "sudo "]),
        ) {
            let glued_before = format!("{prefix}{before}rm");
            let glued_after = format!("{prefix}rm{after}");
            prop_assert!(!cmd("rm").matches(&glued_before), "{}", glued_before);
            prop_assert!(!cmd("rm").matches(&glued_after), "{}", glued_after);
        }
    }
}
