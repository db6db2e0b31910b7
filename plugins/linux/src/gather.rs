//! `gather-accounts`: one script prints the account databases in sections, and pure parsers
//! turn them into [`DiscoveredAccount`]s.
//!
//! Sections: `@@today` (days since the epoch, for account expiry), `@@passwd` and `@@group`
//! (`getent`, falling back to the files), `@@shadow` (only `name:FLAG:expire`, where FLAG is
//! the first character of the password field: password hashes never leave the asset), and
//! `@@lastlog` (`lastlog`, or `lastlog2` on systems that replaced it). Sections that cannot be
//! read (shadow without privilege, no lastlog) are empty and their fields stay unknown.

use std::collections::{BTreeMap, HashMap};

use portcullis_plugin_sdk::DiscoveredAccount;

/// The script (run privileged when possible).
pub const SCRIPT: &str = "echo @@today; echo $(( $(date +%s) / 86400 ))\n\
echo @@passwd; getent passwd 2>/dev/null || cat /etc/passwd\n\
echo @@group; getent group 2>/dev/null || cat /etc/group\n\
echo @@shadow; [ -r /etc/shadow ] && awk -F: '{ print $1 \":\" substr($2, 1, 1) \":\" $8 }' /etc/shadow\n\
echo @@lastlog; lastlog 2>/dev/null || lastlog2 2>/dev/null\n\
exit 0\n";

/// Groups whose members hold administrative rights.
const ADMIN_GROUPS: &[&str] = &["sudo", "wheel", "admin"];
/// Shells that refuse interactive logins.
const NO_LOGIN_SHELLS: &[&str] = &["nologin", "false", "true", "sync", "shutdown", "halt"];
/// The conventional `UID_MIN` of human accounts.
const UID_MIN: u32 = 1000;
/// `nobody` on most systems.
const NOBODY_UID: u32 = 65534;

/// One line of the passwd database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One line of the group database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// What the shadow section says about one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowStatus {
    /// The password field starts with `!` (`passwd -l`, `usermod -L`).
    pub locked: bool,
    /// Account expiry, in days since the epoch.
    pub expires: Option<u64>,
}

/// One account's last login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastLogin {
    /// ISO 8601 when the date parses, else the text as printed.
    pub at: String,
    pub from: Option<String>,
}

/// The output of [`SCRIPT`] cut into its sections.
pub fn sections(output: &str) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut current = None;
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            current = Some(name.trim());
            map.entry(name.trim()).or_default();
        } else if let Some(name) = current {
            map.entry(name).or_default().push(line);
        }
    }
    map
}

/// Parses `name:x:uid:gid:gecos:home:shell` lines; comments, NIS `+`/`-` entries and
/// malformed lines are skipped.
pub fn parse_passwd<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<PasswdEntry> {
    lines
        .into_iter()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with(['#', '+', '-']) {
                return None;
            }
            let f: Vec<&str> = line.splitn(7, ':').collect();
            if f.len() != 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

/// Parses `name:x:gid:member,member` lines, skipping malformed ones.
pub fn parse_group<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<GroupEntry> {
    lines
        .into_iter()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with(['#', '+', '-']) {
                return None;
            }
            let f: Vec<&str> = line.splitn(4, ':').collect();
            if f.len() != 4 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

/// Parses the `name:FLAG:expire` lines of the shadow section.
pub fn parse_shadow<'a>(lines: impl IntoIterator<Item = &'a str>) -> HashMap<String, ShadowStatus> {
    lines
        .into_iter()
        .filter_map(|line| {
            let mut f = line.trim_end_matches('\r').split(':');
            let name = f.next().filter(|n| !n.is_empty())?;
            let flag = f.next()?;
            let expires = f.next().and_then(|e| e.trim().parse().ok());
            Some((
                name.to_owned(),
                ShadowStatus {
                    locked: flag == "!",
                    expires,
                },
            ))
        })
        .collect()
}

/// Parses `lastlog`/`lastlog2` output: a header, then per account its name, the port and
/// the remote address when known, and `Www Mmm dd hh:mm:ss +zzzz yyyy` or
/// `**Never logged in**`. Names longer than the column push the other columns right, so
/// the line is read by words, not by column positions.
pub fn parse_lastlog<'a>(lines: impl IntoIterator<Item = &'a str>) -> HashMap<String, LastLogin> {
    let mut out = HashMap::new();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, rest)) = words.split_first() else {
            continue;
        };
        if name == "Username" || line.contains("**Never logged in**") || rest.len() < 6 {
            continue;
        }
        let (middle, date) = rest.split_at(rest.len() - 6);
        let from = match middle {
            [] => None,
            [one] if looks_like_port(one) => None,
            [one] => Some((*one).to_owned()),
            [.., last] => Some((*last).to_owned()),
        };
        let printed = date.join(" ");
        let at = iso_date(date).unwrap_or(printed);
        out.insert(name.to_owned(), LastLogin { at, from });
    }
    out
}

/// Whether a lone middle word of a lastlog line is the terminal, not the address.
fn looks_like_port(word: &str) -> bool {
    word.contains('/')
        || word.starts_with("tty")
        || word.starts_with("pts")
        || word.starts_with("console")
        || word.starts_with(':')
}

/// `["Tue", "Mar", "5", "10:22:33", "+0800", "2024"]` → `2024-03-05T10:22:33+08:00`.
fn iso_date(words: &[&str]) -> Option<String> {
    let [_, month, day, time, zone, year] = words else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: u32 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let t: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = t[..] else { return None };
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let zone = zone.as_bytes();
    let zone_ok = zone.len() == 5
        && matches!(zone[0], b'+' | b'-')
        && zone[1..].iter().all(u8::is_ascii_digit);
    if !zone_ok {
        return None;
    }
    let zone = std::str::from_utf8(zone).ok()?;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{}:{}",
        &zone[..3],
        &zone[3..]
    ))
}

/// Whether `shell` allows interactive logins.
pub fn is_login_shell(shell: &str) -> bool {
    let base = shell.rsplit('/').next().unwrap_or_default();
    !shell.trim().is_empty() && !NO_LOGIN_SHELLS.contains(&base)
}

/// Builds the accounts from the script's output. Without `all`, system accounts (uid
/// below 1000 but 0, or `nobody`, and no login shell) are left out.
pub fn accounts(output: &str, all: bool) -> Vec<DiscoveredAccount> {
    let sections = sections(output);
    let section = |name: &str| sections.get(name).cloned().unwrap_or_default();
    let today: Option<u64> = section("today").first().and_then(|d| d.trim().parse().ok());
    let passwd = parse_passwd(section("passwd"));
    let groups = parse_group(section("group"));
    let shadow = parse_shadow(section("shadow"));
    let lastlog = parse_lastlog(section("lastlog"));

    let group_names: HashMap<u32, &str> = groups.iter().map(|g| (g.gid, g.name.as_str())).collect();
    // Supplementary groups per user, in the order of the group database.
    let mut member_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for g in &groups {
        for m in &g.members {
            member_of
                .entry(m.as_str())
                .or_default()
                .push(g.name.as_str());
        }
    }

    let mut seen = std::collections::HashSet::new();
    passwd
        .iter()
        // getent may list an account twice (files and a directory service): keep the first.
        .filter(|p| seen.insert(p.name.clone()))
        .filter(|p| {
            all || p.uid == 0
                || is_login_shell(&p.shell)
                || (p.uid >= UID_MIN && p.uid != NOBODY_UID)
        })
        .map(|p| {
            let mut names: Vec<String> = Vec::new();
            if let Some(primary) = group_names.get(&p.gid) {
                names.push((*primary).to_owned());
            }
            for g in member_of.get(p.name.as_str()).into_iter().flatten() {
                if !names.iter().any(|n| n == g) {
                    names.push((*g).to_owned());
                }
            }
            let status = shadow.get(&p.name);
            let locked = status.is_some_and(|s| s.locked);
            let expired = match (status.and_then(|s| s.expires), today) {
                (Some(expires), Some(today)) => expires <= today,
                _ => false,
            };
            let last = lastlog.get(&p.name);
            DiscoveredAccount {
                username: p.name.clone(),
                uid: Some(p.uid),
                home: Some(p.home.clone()).filter(|h| !h.is_empty()),
                shell: Some(p.shell.clone()).filter(|s| !s.is_empty()),
                privileged: p.uid == 0 || names.iter().any(|n| ADMIN_GROUPS.contains(&n.as_str())),
                groups: names,
                last_login: last.map(|l| l.at.clone()),
                last_login_address: last.and_then(|l| l.from.clone()),
                login_enabled: is_login_shell(&p.shell) && !locked && !expired,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian 12 server as the script prints it (lastlog columns as shadow-utils 4.13).
    const DEBIAN: &str = "@@today
20000
@@passwd
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sshd:x:104:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice Liddell,,,:/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/sh
svc-backup-long-name:x:1002:1002::/srv/backup:/bin/bash
locked:x:1003:1003::/home/locked:/bin/bash
expired:x:1004:1004::/home/expired:/bin/zsh
ftp:x:1005:1005::/srv/ftp:/usr/sbin/nologin
+nisuser::::::
broken line
@@group
root:x:0:
adm:x:4:alice
sudo:x:27:alice,bob
users:x:100:
alice:x:1000:
bob:x:1001:
svc-backup-long-name:x:1002:
locked:x:1003:
expired:x:1004:
ftp:x:1005:
docker:x:999:svc-backup-long-name,alice
@@shadow
root:*:
daemon:*:
alice:$:
bob:$:
locked:!:
expired:$:19999
svc-backup-long-name:$:30000
@@lastlog
Username         Port     From                                       Latest
root             pts/1    127.0.0.1                                 Sun Nov 22 20:59:15 +0000 2026
daemon                                                              **Never logged in**
bin                                                                 **Never logged in**
sshd                                                                **Never logged in**
nobody                                                              **Never logged in**
alice            pts/0    192.168.10.25                             Tue Mar  5 10:22:33 +0800 2024
bob              tty1                                               Mon Jan  8 08:00:01 +0000 2024
svc-backup-long-name pts/3 2001:db8::7                              Wed Feb 14 23:59:59 -0500 2024
locked                                                              **Never logged in**
expired                                                             **Never logged in**
";

    fn find<'a>(list: &'a [DiscoveredAccount], name: &str) -> &'a DiscoveredAccount {
        list.iter()
            .find(|a| a.username == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn a_debian_server_gives_its_login_accounts() {
        let list = accounts(DEBIAN, false);
        let names: Vec<&str> = list.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(
            names,
            [
                "root",
                "alice",
                "bob",
                "svc-backup-long-name",
                "locked",
                "expired",
                "ftp"
            ]
        );

        let root = find(&list, "root");
        assert!(root.privileged && root.login_enabled);
        assert_eq!(
            root.last_login.as_deref(),
            Some("2026-11-22T20:59:15+00:00")
        );
        assert_eq!(root.last_login_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(root.groups, ["root"]);

        let alice = find(&list, "alice");
        assert_eq!(alice.uid, Some(1000));
        assert_eq!(alice.home.as_deref(), Some("/home/alice"));
        assert_eq!(alice.shell.as_deref(), Some("/bin/bash"));
        assert_eq!(alice.groups, ["alice", "adm", "sudo", "docker"]);
        assert!(alice.privileged && alice.login_enabled);
        assert_eq!(
            alice.last_login.as_deref(),
            Some("2024-03-05T10:22:33+08:00")
        );
        assert_eq!(alice.last_login_address.as_deref(), Some("192.168.10.25"));

        let bob = find(&list, "bob");
        assert!(bob.privileged);
        assert_eq!(bob.last_login.as_deref(), Some("2024-01-08T08:00:01+00:00"));
        assert_eq!(
            bob.last_login_address, None,
            "tty1 is a port, not an address"
        );

        let svc = find(&list, "svc-backup-long-name");
        assert!(
            !svc.privileged && svc.login_enabled,
            "expires in the future"
        );
        assert_eq!(svc.last_login_address.as_deref(), Some("2001:db8::7"));
        assert_eq!(svc.last_login.as_deref(), Some("2024-02-14T23:59:59-05:00"));

        assert!(!find(&list, "locked").login_enabled);
        assert_eq!(find(&list, "locked").last_login, None);
        assert!(!find(&list, "expired").login_enabled);
        let ftp = find(&list, "ftp");
        assert!(!ftp.login_enabled && !ftp.privileged);
    }

    #[test]
    fn all_includes_system_accounts() {
        let list = accounts(DEBIAN, true);
        assert_eq!(list.len(), 11);
        let daemon = find(&list, "daemon");
        assert!(!daemon.login_enabled);
        assert_eq!(
            daemon.groups,
            Vec::<String>::new(),
            "gid 1 has no group line"
        );
        assert_eq!(find(&list, "sshd").groups, Vec::<String>::new());
    }

    #[test]
    fn missing_sections_leave_fields_unknown() {
        let out =
            "@@passwd\nalice:x:1000:1000::/home/alice:/bin/bash\n@@group\n@@shadow\n@@lastlog\n";
        let list = accounts(out, false);
        assert_eq!(list.len(), 1);
        assert!(list[0].login_enabled, "no shadow: only the shell decides");
        assert_eq!(list[0].last_login, None);
        assert!(accounts("", false).is_empty());
    }

    #[test]
    fn lastlog_dates_that_do_not_parse_are_kept_as_printed() {
        let l = parse_lastlog([
            "carol            pts/2    10.0.0.9         Thu Feb 30 10:00:00 UTC 2024",
            "dave             ssh      host.example     Fri Jan  5 10:00:00 +0100 2024",
        ]);
        assert_eq!(l["carol"].at, "Thu Feb 30 10:00:00 UTC 2024");
        assert_eq!(l["carol"].from.as_deref(), Some("10.0.0.9"));
        assert_eq!(l["dave"].at, "2024-01-05T10:00:00+01:00");
        assert_eq!(l["dave"].from.as_deref(), Some("host.example"));
    }

    #[test]
    fn login_shells() {
        assert!(is_login_shell("/bin/bash"));
        assert!(is_login_shell("/usr/bin/fish"));
        for s in [
            "",
            "/usr/sbin/nologin",
            "/sbin/nologin",
            "/bin/false",
            "/bin/sync",
        ] {
            assert!(!is_login_shell(s), "{s}");
        }
    }

    /// The script on this machine (its real getent and lastlog): every account it lists
    /// comes back, root included.
    #[test]
    fn the_script_runs_and_parses_here() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let all = accounts(&text, true);
        let passwd = sections(&text)["passwd"].clone();
        let names: std::collections::BTreeSet<String> =
            parse_passwd(passwd).into_iter().map(|p| p.name).collect();
        assert!(!names.is_empty());
        assert_eq!(all.len(), names.len());
        let root = find(&all, "root");
        assert_eq!(root.uid, Some(0));
        assert!(root.privileged);
    }
}
