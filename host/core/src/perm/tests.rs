//! Rule tests for the permission engine: one table per rule, proptest properties against a
//! brute-force reference, and a full-size synthetic run.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

const ORG: Uuid = Uuid::from_u128(0xA);
const ORG2: Uuid = Uuid::from_u128(0xB);
const USER: Uuid = Uuid::from_u128(0x100);
const GROUP: Uuid = Uuid::from_u128(0x200);

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn at(y: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    at(2025)
}

fn user() -> PermUser {
    PermUser {
        id: USER,
        username: "alice".into(),
        groups: vec![GROUP],
        is_active: true,
        date_expired: None,
    }
}

fn perm(n: u128) -> AssetPermission {
    AssetPermission {
        id: id(0x1000 + n),
        org_id: ORG,
        name: format!("p{n}"),
        is_active: true,
        date_start: at(2020),
        date_expired: at(2100),
        users: vec![USER],
        user_groups: vec![],
        assets: vec![],
        nodes: vec![],
        accounts: vec!["@ALL".into()],
        protocols: vec!["all".into()],
        actions: Actions::ALL,
    }
}

fn node(n: u128, key: &str) -> PermNode {
    PermNode {
        id: id(0x2000 + n),
        org_id: ORG,
        key: NodeKey::parse(key).unwrap(),
    }
}

fn asset(n: u128, nodes: &[&PermNode]) -> PermAsset {
    PermAsset {
        id: id(0x3000 + n),
        org_id: ORG,
        name: format!("a{n}"),
        is_active: true,
        category: "host".into(),
        protocols: vec![
            ("ssh".into(), 22),
            ("sftp".into(), 22),
            ("rdp".into(), 3389),
        ],
        node_ids: nodes.iter().map(|n| n.id).collect(),
    }
}

fn account(n: u128, asset: &PermAsset, username: &str) -> PermAccount {
    PermAccount {
        id: id(0x4000 + n),
        asset_id: asset.id,
        name: format!("{username}-{n}"),
        username: username.into(),
        secret_type: "password".into(),
        is_active: true,
        has_secret: true,
        template_id: None,
    }
}

// ---------------------------------------------------------------- rule 1: applicability

#[test]
fn rule1_permission_applies_only_when_valid_and_user_listed() {
    let base = perm(1);
    let u = user();
    type Case = (&'static str, fn(&mut AssetPermission, &mut PermUser), bool);
    let cases: &[Case] = &[
        ("listed directly", |_, _| {}, true),
        (
            "listed through a group",
            |p, _| {
                p.users.clear();
                p.user_groups = vec![GROUP];
            },
            true,
        ),
        (
            "not listed",
            |p, _| {
                p.users = vec![id(1)];
                p.user_groups = vec![id(2)];
            },
            false,
        ),
        ("permission inactive", |p, _| p.is_active = false, false),
        ("before date_start", |p, _| p.date_start = at(2026), false),
        (
            "at date_start (inclusive)",
            |p, _| p.date_start = now(),
            true,
        ),
        (
            "at date_expired (exclusive)",
            |p, _| p.date_expired = now(),
            false,
        ),
        (
            "after date_expired",
            |p, _| p.date_expired = at(2024),
            false,
        ),
        ("user inactive", |_, u| u.is_active = false, false),
        (
            "user expired",
            |_, u| u.date_expired = Some(at(2024)),
            false,
        ),
        (
            "user expires exactly now",
            |_, u| u.date_expired = Some(now()),
            false,
        ),
        (
            "user expires later",
            |_, u| u.date_expired = Some(at(2030)),
            true,
        ),
    ];
    for (name, tweak, want) in cases {
        let (mut p, mut u) = (base.clone(), u.clone());
        tweak(&mut p, &mut u);
        assert_eq!(p.applies_to(&u, now()), *want, "{name}");
        let got = applicable_permissions(&u, std::slice::from_ref(&p), now()).len() == 1;
        assert_eq!(got, *want, "{name} (applicable_permissions)");
    }
}

// ---------------------------------------------------------------- rule 2: empty sides

#[test]
fn rule2_empty_side_grants_nothing() {
    let n1 = node(1, "1");
    let a1 = asset(1, &[&n1]);
    let acct = account(1, &a1, "root");
    let nodes = [n1.clone()];
    let assets = [a1.clone()];

    let mut no_subjects = perm(1);
    no_subjects.users.clear();
    no_subjects.assets = vec![a1.id];
    no_subjects.nodes = vec![n1.id];
    let set = permitted_assets(&user(), &[no_subjects.clone()], &nodes, &assets, now());
    assert!(
        set.asset_ids.is_empty(),
        "no users and no groups grants nobody"
    );
    assert!(set.nodes.is_empty());
    assert!(
        asset_grant(
            &user(),
            &a1,
            &[no_subjects],
            &nodes,
            std::slice::from_ref(&acct),
            now()
        )
        .is_none()
    );

    let no_resources = perm(2);
    let set = permitted_assets(
        &user(),
        std::slice::from_ref(&no_resources),
        &nodes,
        &assets,
        now(),
    );
    assert!(
        set.asset_ids.is_empty(),
        "no assets and no nodes grants nothing"
    );
    assert!(set.nodes.is_empty());
    assert!(
        asset_grant(
            &user(),
            &a1,
            &[no_resources],
            &nodes,
            std::slice::from_ref(&acct),
            now()
        )
        .is_none()
    );

    let mut p = perm(3);
    p.assets = vec![a1.id];
    p.accounts.clear();
    let g = asset_grant(
        &user(),
        &a1,
        &[p],
        &nodes,
        std::slice::from_ref(&acct),
        now(),
    )
    .unwrap();
    assert!(g.accounts.is_empty(), "no accounts grants no account");

    let mut p = perm(4);
    p.assets = vec![a1.id];
    p.protocols.clear();
    let g = asset_grant(
        &user(),
        &a1,
        &[p],
        &nodes,
        std::slice::from_ref(&acct),
        now(),
    )
    .unwrap();
    assert!(g.protocols.is_empty(), "no protocols grants no protocol");
    assert!(!g.can_connect(&acct.id.to_string(), "ssh"));

    let mut p = perm(5);
    p.assets = vec![a1.id];
    p.actions = Actions::empty();
    let g = asset_grant(
        &user(),
        &a1,
        &[p],
        &nodes,
        std::slice::from_ref(&acct),
        now(),
    )
    .unwrap();
    assert!(g.actions.is_empty(), "no actions grants no action");
    assert!(g.accounts.iter().all(|a| a.actions.is_empty()));
    assert!(!g.can_connect(&acct.id.to_string(), "ssh"));
}

// ---------------------------------------------------------------- rule 3: assets

#[test]
fn rule3_assets_direct_node_and_descendants() {
    let root = node(0, "1");
    let n1 = node(1, "1:1");
    let n1_2 = node(2, "1:1:2");
    let n10 = node(3, "1:10");
    let n2 = node(4, "1:2");
    let nodes = vec![
        root.clone(),
        n1.clone(),
        n1_2.clone(),
        n10.clone(),
        n2.clone(),
    ];
    let in_n1 = asset(1, &[&n1]);
    let in_n1_2 = asset(2, &[&n1_2]);
    let in_n10 = asset(3, &[&n10]);
    let in_n2 = asset(4, &[&n2]);
    let direct = asset(5, &[&n2]);
    let mut inactive = asset(6, &[&n1]);
    inactive.is_active = false;
    let mut other_org = asset(7, &[]);
    other_org.org_id = ORG2;
    let assets = vec![
        in_n1.clone(),
        in_n1_2.clone(),
        in_n10.clone(),
        in_n2.clone(),
        direct.clone(),
        inactive.clone(),
        other_org.clone(),
    ];
    let mut p = perm(1);
    p.nodes = vec![n1.id];
    p.assets = vec![direct.id, other_org.id];
    let set = permitted_assets(&user(), &[p.clone()], &nodes, &assets, now());
    let cases = [
        (&in_n1, true, "asset in the granted node"),
        (&in_n1_2, true, "asset in a descendant of the granted node"),
        (&in_n10, false, "key 1:10 is not under 1:1"),
        (&in_n2, false, "sibling node"),
        (&direct, true, "directly listed asset"),
        (&inactive, false, "inactive asset in a granted node"),
        (&other_org, false, "asset of another org listed directly"),
    ];
    let index = NodeIndex::new(&nodes);
    for (a, want, why) in cases {
        assert_eq!(set.asset_ids.contains(&a.id), want, "{why}");
        assert_eq!(
            permission_covers_asset(&p, a, &index),
            want,
            "{why} (covers)"
        );
        assert_eq!(
            asset_grant(&user(), a, &[p.clone()], &nodes, &[], now()).is_some(),
            want,
            "{why} (asset_grant)"
        );
    }
    assert_eq!(set.direct_asset_ids, vec![direct.id]);
    assert_eq!(
        set.asset_ids,
        vec![in_n1.id, in_n1_2.id, direct.id],
        "input order"
    );
}

#[test]
fn rule3_nodes_of_another_org_are_ignored() {
    let mut foreign = node(1, "2");
    foreign.org_id = ORG2;
    let mut foreign_asset = asset(1, &[&foreign]);
    foreign_asset.org_id = ORG2;
    let mut p = perm(1);
    p.nodes = vec![foreign.id];
    let nodes = [foreign.clone()];
    let set = permitted_assets(
        &user(),
        &[p.clone()],
        &nodes,
        &[foreign_asset.clone()],
        now(),
    );
    assert!(set.asset_ids.is_empty());
    assert!(set.nodes.is_empty());
    assert!(asset_grant(&user(), &foreign_asset, &[p], &nodes, &[], now()).is_none());
}

// ---------------------------------------------------------------- rule 4: node tree

#[test]
fn rule4_node_tree_contains_asset_nodes_granted_nodes_and_ancestors_with_counts() {
    let root = node(0, "1");
    let n9 = node(1, "1:9");
    let n10 = node(2, "1:10");
    let n10_1 = node(3, "1:10:1");
    let n10_2 = node(4, "1:10:2");
    let empty_granted = node(5, "1:11:1");
    let n11 = node(6, "1:11");
    let unrelated = node(7, "1:12");
    let nodes = vec![
        unrelated.clone(),
        n10_2.clone(),
        root.clone(),
        n11.clone(),
        n9.clone(),
        n10.clone(),
        empty_granted.clone(),
        n10_1.clone(),
    ];
    // a1 sits in both children of 1:10: it counts once for 1:10 and for 1.
    let a1 = asset(1, &[&n10_1, &n10_2]);
    let a2 = asset(2, &[&n10_2]);
    let a3 = asset(3, &[&n9]);
    let a4 = asset(4, &[&unrelated]);
    let mut p = perm(1);
    p.nodes = vec![n10.id, empty_granted.id];
    p.assets = vec![a3.id];
    let set = permitted_assets(&user(), &[p], &nodes, &[a1.clone(), a2, a3, a4], now());
    let got: Vec<(&str, usize, bool)> = set
        .nodes
        .iter()
        .map(|n| (n.key.as_str(), n.assets_amount, n.granted))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1", 3, false),
            ("1:9", 1, false),
            ("1:10", 2, true),
            ("1:10:1", 1, true),
            ("1:10:2", 2, true),
            ("1:11", 0, false),
            ("1:11:1", 0, true),
        ]
    );
}

// ---------------------------------------------------------------- rule 5: per-asset grant

#[test]
fn rule5_protocols_are_intersection_and_union() {
    let n = node(1, "1");
    let a = asset(1, &[&n]);
    let nodes = [n.clone()];
    type Case = (&'static str, Vec<Vec<&'static str>>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "all means the asset's protocols",
            vec![vec!["all"]],
            vec!["ssh", "sftp", "rdp"],
        ),
        (
            "listed names intersect",
            vec![vec!["rdp", "telnet"]],
            vec!["rdp"],
        ),
        ("case-insensitive", vec![vec!["SSH"]], vec!["ssh"]),
        (
            "union across permissions",
            vec![vec!["rdp"], vec!["ssh"]],
            vec!["ssh", "rdp"],
        ),
        ("none listed", vec![vec![]], vec![]),
        ("only unknown", vec![vec!["vnc"]], vec![]),
    ];
    for (why, lists, want) in cases {
        let perms: Vec<_> = lists
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut p = perm(i as u128);
                p.assets = vec![a.id];
                p.protocols = l.iter().map(|s| s.to_string()).collect();
                p
            })
            .collect();
        let g = asset_grant(&user(), &a, &perms, &nodes, &[], now()).unwrap();
        let got: Vec<&str> = g.protocols.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(got, want, "{why}");
    }
    let mut p = perm(1);
    p.assets = vec![a.id];
    let g = asset_grant(&user(), &a, &[p], &nodes, &[], now()).unwrap();
    assert_eq!(g.protocol("RDP").map(|p| p.port), Some(3389));
}

#[test]
fn rule5_accounts_resolve_selectors_against_real_accounts() {
    let n = node(1, "1");
    let host = asset(1, &[&n]);
    let mut web = asset(2, &[&n]);
    web.category = "web".into();
    let mut custom = asset(3, &[&n]);
    custom.category = "Custom".into();
    let tmpl = id(0x77);
    let root = account(1, &host, "root");
    let admin = account(2, &host, "admin");
    let mut from_tmpl = account(3, &host, "deploy");
    from_tmpl.template_id = Some(tmpl);
    let mut disabled = account(4, &host, "old");
    disabled.is_active = false;
    let elsewhere = account(5, &web, "root");
    let accounts = vec![
        root.clone(),
        admin.clone(),
        from_tmpl.clone(),
        disabled.clone(),
        elsewhere.clone(),
    ];
    let nodes = [n.clone()];
    let tmpl_spec = format!("%{tmpl}");
    let cases: Vec<(&str, &PermAsset, Vec<&str>, Vec<String>)> = vec![
        (
            "@ALL is every active account of the asset",
            &host,
            vec!["@ALL"],
            vec![
                root.id.to_string(),
                admin.id.to_string(),
                from_tmpl.id.to_string(),
            ],
        ),
        ("username", &host, vec!["admin"], vec![admin.id.to_string()]),
        ("inactive account by username", &host, vec!["old"], vec![]),
        ("unknown username", &host, vec!["nobody"], vec![]),
        (
            "template",
            &host,
            vec![tmpl_spec.as_str()],
            vec![from_tmpl.id.to_string()],
        ),
        (
            "exclusion removes from @ALL",
            &host,
            vec!["@ALL", "!root"],
            vec![admin.id.to_string(), from_tmpl.id.to_string()],
        ),
        (
            "exclusion beats a listed username",
            &host,
            vec!["root", "!root"],
            vec![],
        ),
        ("@SPEC alone grants nothing", &host, vec!["@SPEC"], vec![]),
        (
            "@SPEC with usernames",
            &host,
            vec!["@SPEC", "root"],
            vec![root.id.to_string()],
        ),
        (
            "unparseable entries grant nothing",
            &host,
            vec!["@BOGUS", "%x"],
            vec![],
        ),
        ("@INPUT", &host, vec!["@INPUT"], vec!["@INPUT".into()]),
        ("@USER", &host, vec!["@USER"], vec!["@USER".into()]),
        ("@ANON not on a host", &host, vec!["@ANON"], vec![]),
        ("@ANON on web", &web, vec!["@ANON"], vec!["@ANON".into()]),
        (
            "@ANON on custom",
            &custom,
            vec!["@ANON"],
            vec!["@ANON".into()],
        ),
        (
            "virtual after real, fixed order",
            &host,
            vec!["@ANON", "@USER", "@INPUT", "admin"],
            vec![admin.id.to_string(), "@INPUT".into(), "@USER".into()],
        ),
        (
            "accounts of other assets are ignored",
            &web,
            vec!["@ALL"],
            vec![elsewhere.id.to_string()],
        ),
    ];
    for (why, a, specs, want) in cases {
        let mut p = perm(1);
        p.assets = vec![a.id];
        p.accounts = specs.iter().map(|s| s.to_string()).collect();
        let g = asset_grant(&user(), a, &[p], &nodes, &accounts, now()).unwrap();
        let got: Vec<&str> = g.accounts.iter().map(|a| a.alias.as_str()).collect();
        assert_eq!(got, want, "{why}");
    }
}

#[test]
fn rule5_account_shape_for_real_and_virtual_accounts() {
    let n = node(1, "1");
    let a = asset(1, &[&n]);
    let root = account(1, &a, "root");
    let mut p = perm(1);
    p.assets = vec![a.id];
    p.accounts = vec!["root".into(), "@INPUT".into(), "@USER".into()];
    let g = asset_grant(
        &user(),
        &a,
        &[p.clone()],
        &[n],
        std::slice::from_ref(&root),
        now(),
    )
    .unwrap();
    let real = g.account(&root.id.to_string()).unwrap();
    assert_eq!(real.id, Some(root.id));
    assert_eq!(real.username, "root");
    assert!(real.has_username && real.has_secret);
    assert_eq!(real.virtual_kind, None);
    let input = g.account("@INPUT").unwrap();
    assert_eq!(input.id, None);
    assert_eq!((input.username.as_str(), input.has_username), ("", false));
    assert!(!input.has_secret);
    assert_eq!(input.virtual_kind, Some(VirtualAccount::Input));
    let dynamic = g.account("@USER").unwrap();
    assert_eq!(
        (dynamic.username.as_str(), dynamic.has_username),
        ("alice", true)
    );
    assert_eq!(dynamic.name, "Dynamic user");
    assert_eq!(g.permission_ids, vec![p.id]);
    assert!(g.can_connect("@USER", "ssh"));
    assert!(!g.can_connect("@ANON", "ssh"));
}

#[test]
fn rule5_accounts_union_actions_and_latest_expiry() {
    let n = node(1, "1");
    let a = asset(1, &[&n]);
    let root = account(1, &a, "root");
    let admin = account(2, &a, "admin");
    let mut p1 = perm(1);
    p1.nodes = vec![n.id];
    p1.accounts = vec!["@ALL".into(), "!admin".into()];
    p1.actions = Actions::CONNECT;
    p1.date_expired = at(2030);
    p1.protocols = vec!["ssh".into()];
    let mut p2 = perm(2);
    p2.user_groups = vec![GROUP];
    p2.users.clear();
    p2.assets = vec![a.id];
    p2.accounts = vec!["root".into(), "admin".into()];
    p2.actions = Actions::UPLOAD | Actions::DOWNLOAD;
    p2.date_expired = at(2040);
    let mut p3 = perm(3);
    p3.assets = vec![a.id];
    p3.accounts = vec!["root".into()];
    p3.actions = Actions::COPY;
    p3.is_active = false; // does not apply
    let g = asset_grant(
        &user(),
        &a,
        &[p1, p2, p3],
        &[n],
        &[root.clone(), admin.clone()],
        now(),
    )
    .unwrap();
    let r = g.account(&root.id.to_string()).unwrap();
    assert_eq!(
        r.actions,
        Actions::CONNECT | Actions::UPLOAD | Actions::DOWNLOAD
    );
    assert_eq!(r.date_expired, at(2040));
    let ad = g.account(&admin.id.to_string()).unwrap();
    assert_eq!(
        ad.actions,
        Actions::UPLOAD | Actions::DOWNLOAD,
        "!admin only trims p1"
    );
    assert_eq!(
        g.actions,
        Actions::CONNECT | Actions::UPLOAD | Actions::DOWNLOAD
    );
    assert_eq!(g.date_expired, at(2040));
    assert_eq!(g.permission_ids.len(), 2);
    assert!(g.can_connect(&root.id.to_string(), "ssh"));
    assert!(
        !g.can_connect(&admin.id.to_string(), "ssh"),
        "admin has no connect bit"
    );
}

// ---------------------------------------------------------------- rule 6: scale

#[test]
fn rule6_bulk_counts_are_correct_at_full_size() {
    const NODES: usize = 10_000;
    const ASSETS: usize = 100_000;
    const PERMS: usize = 1_000;
    const GROUPS: u128 = 100;
    // A 10-ary tree: node i's parent is (i - 1) / 10, so depth is about 5.
    let mut parent = vec![usize::MAX; NODES];
    let mut children = vec![0u64; NODES];
    let mut nodes: Vec<PermNode> = Vec::with_capacity(NODES);
    nodes.push(node(0, "1"));
    for (i, slot) in parent.iter_mut().enumerate().skip(1) {
        let p = (i - 1) / 10;
        *slot = p;
        let key = nodes[p].key.child(children[p]);
        children[p] += 1;
        nodes.push(PermNode {
            id: id(0x2000 + i as u128),
            org_id: ORG,
            key,
        });
    }
    let node_of = |i: usize| (i * 7) % NODES;
    let assets: Vec<PermAsset> = (0..ASSETS)
        .map(|i| {
            let mut a = asset(i as u128, &[&nodes[node_of(i)]]);
            if i % 3 == 0 {
                a.node_ids.push(nodes[(i * 31) % NODES].id);
            }
            a.is_active = i % 97 != 0;
            a
        })
        .collect();
    let groups: Vec<Uuid> = (0..GROUPS).map(|g| id(0x9000 + g)).collect();
    let mut u = user();
    u.groups = groups.iter().step_by(10).copied().collect(); // 10 of the 100 groups
    let perms: Vec<AssetPermission> = (0..PERMS)
        .map(|j| {
            let mut p = perm(j as u128);
            p.users.clear();
            p.user_groups = vec![groups[j % GROUPS as usize]];
            p.nodes = vec![nodes[100 + (j * 7919) % (NODES - 100)].id];
            p.assets = vec![assets[(j * 131) % ASSETS].id];
            p
        })
        .collect();

    let set = permitted_assets(&u, &perms, &nodes, &assets, now());

    // Independent expectation, via parent indices instead of keys.
    let applies = |j: usize| u.groups.contains(&groups[j % GROUPS as usize]);
    let mut granted_node = vec![false; NODES];
    let mut direct = std::collections::HashSet::new();
    for j in (0..PERMS).filter(|j| applies(*j)) {
        granted_node[100 + (j * 7919) % (NODES - 100)] = true;
        direct.insert((j * 131) % ASSETS);
    }
    let chain = |mut i: usize| {
        let mut v = vec![i];
        while parent[i] != usize::MAX {
            i = parent[i];
            v.push(i);
        }
        v
    };
    let mut want_assets = Vec::new();
    let mut want_count = vec![0usize; NODES];
    for (i, a) in assets.iter().enumerate() {
        if !a.is_active {
            continue;
        }
        let mut containing: Vec<usize> = chain(node_of(i));
        if i % 3 == 0 {
            containing.extend(chain((i * 31) % NODES));
        }
        let permitted = direct.contains(&i) || containing.iter().any(|n| granted_node[*n]);
        if permitted {
            want_assets.push(a.id);
            containing.sort_unstable();
            containing.dedup();
            for n in containing {
                want_count[n] += 1;
            }
        }
    }
    assert_eq!(set.asset_ids, want_assets);
    assert!(
        set.asset_ids.len() > 1_000,
        "the fixture permits a real share"
    );
    for pn in &set.nodes {
        let i = (pn.id.as_u128() - 0x2000) as usize;
        assert_eq!(pn.assets_amount, want_count[i], "node {}", pn.key);
    }
    let shown: usize = set.nodes.len();
    let with_assets = want_count.iter().filter(|c| **c > 0).count();
    assert!(shown >= with_assets);
    assert!(set.nodes.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(set.nodes[0].key.as_str(), "1");
    assert_eq!(set.nodes[0].assets_amount, want_assets.len());
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
struct Universe {
    user: PermUser,
    nodes: Vec<PermNode>,
    assets: Vec<PermAsset>,
    perms: Vec<AssetPermission>,
}

type AssetSeed = (Vec<u16>, bool, u8);
type PermSeed = (u8, Vec<u16>, Vec<u16>, u8, u8);

fn build(node_seeds: Vec<u16>, asset_seeds: Vec<AssetSeed>, perm_seeds: Vec<PermSeed>) -> Universe {
    let mut nodes = vec![node(0, "1"), {
        let mut n = node(1, "2");
        n.org_id = ORG2;
        n
    }];
    let mut children: Vec<u64> = vec![0, 0];
    for (i, s) in node_seeds.iter().enumerate() {
        let p = *s as usize % nodes.len();
        let key = nodes[p].key.child(children[p]);
        children[p] += 1;
        children.push(0);
        nodes.push(PermNode {
            id: id(0x2000 + 2 + i as u128),
            org_id: nodes[p].org_id,
            key,
        });
    }
    let assets: Vec<PermAsset> = asset_seeds
        .iter()
        .enumerate()
        .map(|(i, (picks, active, org_flag))| {
            let ns: Vec<&PermNode> = picks
                .iter()
                .map(|s| &nodes[*s as usize % nodes.len()])
                .collect();
            let mut a = asset(i as u128, &ns);
            a.org_id = ns.first().map_or(ORG, |n| n.org_id);
            if *org_flag == 0 {
                a.org_id = if a.org_id == ORG { ORG2 } else { ORG };
            }
            a.is_active = *active;
            a
        })
        .collect();
    let perms = perm_seeds
        .iter()
        .enumerate()
        .map(|(j, (who, asset_picks, node_picks, org_flag, validity))| {
            let mut p = perm(j as u128);
            p.users.clear();
            match who {
                1 => p.users = vec![USER],
                2 => p.user_groups = vec![GROUP],
                3 => p.users = vec![id(0xDEAD)],
                _ => {}
            }
            if !assets.is_empty() {
                p.assets = asset_picks
                    .iter()
                    .map(|s| assets[*s as usize % assets.len()].id)
                    .collect();
            }
            p.nodes = node_picks
                .iter()
                .map(|s| nodes[*s as usize % nodes.len()].id)
                .collect();
            if *org_flag == 0 {
                p.org_id = ORG2;
            }
            match validity {
                0 => p.is_active = false,
                1 => p.date_expired = now() - Duration::days(1),
                _ => {}
            }
            p
        })
        .collect();
    Universe {
        user: user(),
        nodes,
        assets,
        perms,
    }
}

fn universe() -> impl Strategy<Value = Universe> {
    (
        prop::collection::vec(any::<u16>(), 0..20),
        prop::collection::vec(
            (
                prop::collection::vec(any::<u16>(), 0..3),
                prop::bool::weighted(0.85),
                0u8..8,
            ),
            0..25,
        ),
        prop::collection::vec(
            (
                0u8..4,
                prop::collection::vec(any::<u16>(), 0..3),
                prop::collection::vec(any::<u16>(), 0..3),
                0u8..6,
                0u8..8,
            ),
            0..8,
        ),
    )
        .prop_map(|(n, a, p)| build(n, a, p))
}

/// Straight from the rules, pairwise, with no indexing.
fn reference(u: &Universe) -> (Vec<Uuid>, Vec<(String, usize, bool)>) {
    let node = |id: &Uuid| u.nodes.iter().find(|n| n.id == *id);
    let applicable: Vec<&AssetPermission> = u
        .perms
        .iter()
        .filter(|p| p.applies_to(&u.user, now()))
        .collect();
    let covers = |p: &AssetPermission, a: &PermAsset| {
        a.is_active
            && p.org_id == a.org_id
            && (p.assets.contains(&a.id)
                || p.nodes.iter().filter_map(node).any(|g| {
                    g.org_id == p.org_id
                        && a.node_ids
                            .iter()
                            .filter_map(node)
                            .any(|n| n.org_id == a.org_id && g.key.is_self_or_ancestor_of(&n.key))
                }))
    };
    let mut permitted: Vec<&PermAsset> = Vec::new();
    for a in &u.assets {
        if applicable.iter().any(|p| covers(p, a)) && !permitted.iter().any(|x| x.id == a.id) {
            permitted.push(a);
        }
    }
    let granted_nodes: Vec<&PermNode> = applicable
        .iter()
        .flat_map(|p| {
            p.nodes
                .iter()
                .filter_map(node)
                .filter(|g| g.org_id == p.org_id)
        })
        .collect();
    let mut tree = Vec::new();
    for n in &u.nodes {
        let count = permitted
            .iter()
            .filter(|a| {
                a.node_ids.iter().filter_map(node).any(|m| {
                    m.org_id == a.org_id
                        && n.org_id == a.org_id
                        && n.key.is_self_or_ancestor_of(&m.key)
                })
            })
            .count();
        let granted = granted_nodes
            .iter()
            .any(|g| g.org_id == n.org_id && g.key.is_self_or_ancestor_of(&n.key));
        let ancestor_of_granted = granted_nodes
            .iter()
            .any(|g| g.org_id == n.org_id && n.key.is_self_or_ancestor_of(&g.key));
        if count > 0 || ancestor_of_granted {
            tree.push((n.key.clone(), count, granted));
        }
    }
    tree.sort();
    (
        permitted.iter().map(|a| a.id).collect(),
        tree.into_iter()
            .map(|(k, c, g)| (k.to_string(), c, g))
            .collect(),
    )
}

fn observed(set: &PermittedSet) -> (Vec<Uuid>, Vec<(String, usize, bool)>) {
    (
        set.asset_ids.clone(),
        set.nodes
            .iter()
            .map(|n| (n.key.to_string(), n.assets_amount, n.granted))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prop_rules_3_4_bulk_matches_pairwise_reference(u in universe()) {
        let set = permitted_assets(&u.user, &u.perms, &u.nodes, &u.assets, now());
        prop_assert_eq!(observed(&set), reference(&u));
    }

    #[test]
    fn prop_rule5_asset_grant_agrees_with_bulk(u in universe()) {
        let set = permitted_assets(&u.user, &u.perms, &u.nodes, &u.assets, now());
        for a in &u.assets {
            let g = asset_grant(&u.user, a, &u.perms, &u.nodes, &[], now());
            prop_assert_eq!(g.is_some(), set.asset_ids.contains(&a.id));
        }
    }

    #[test]
    fn prop_permission_order_does_not_matter(u in universe(), seed in any::<u64>()) {
        let mut shuffled = u.perms.clone();
        // Deterministic Fisher-Yates from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let a = permitted_assets(&u.user, &u.perms, &u.nodes, &u.assets, now());
        let b = permitted_assets(&u.user, &shuffled, &u.nodes, &u.assets, now());
        prop_assert_eq!(&a, &b);
        for asset in &u.assets {
            let ga = asset_grant(&u.user, asset, &u.perms, &u.nodes, &[], now());
            let gb = asset_grant(&u.user, asset, &shuffled, &u.nodes, &[], now());
            prop_assert_eq!(ga.map(|g| (g.actions, g.protocols)), gb.map(|g| (g.actions, g.protocols)));
        }
    }

    #[test]
    fn prop_adding_a_permission_never_removes_assets(u in universe(), extra in 0usize..8) {
        let before = permitted_assets(&u.user, &u.perms, &u.nodes, &u.assets, now());
        let mut more = u.perms.clone();
        let mut p = perm(999);
        p.nodes = vec![u.nodes[extra % u.nodes.len()].id];
        more.push(p);
        let after = permitted_assets(&u.user, &more, &u.nodes, &u.assets, now());
        for a in &before.asset_ids {
            prop_assert!(after.asset_ids.contains(a));
        }
    }

    #[test]
    fn prop_rule2_no_subjects_grants_nothing(u in universe()) {
        let stripped: Vec<_> = u.perms.iter().cloned().map(|mut p| {
            p.users.clear();
            p.user_groups.clear();
            p
        }).collect();
        let set = permitted_assets(&u.user, &stripped, &u.nodes, &u.assets, now());
        prop_assert!(set.asset_ids.is_empty());
        prop_assert!(set.nodes.is_empty());
    }

    #[test]
    fn prop_rule5_account_actions_are_within_grant_actions(
        specs in prop::collection::vec(
            prop::sample::select(vec!["@ALL", "root", "admin", "!root", "!admin", "@INPUT", "@USER", "@ANON"]),
            0..5,
        ),
        acts in prop::collection::vec(0u32..128, 1..4),
    ) {
        let n = node(1, "1");
        let a = asset(1, &[&n]);
        let accounts = [account(1, &a, "root"), account(2, &a, "admin")];
        let perms: Vec<_> = acts.iter().enumerate().map(|(i, bits)| {
            let mut p = perm(i as u128);
            p.assets = vec![a.id];
            p.accounts = specs.iter().map(|s| s.to_string()).collect();
            p.actions = Actions::from_bits_truncate(*bits);
            p
        }).collect();
        let g = asset_grant(&user(), &a, &perms, &[n], &accounts, now()).unwrap();
        for acc in &g.accounts {
            prop_assert!(g.actions.contains(acc.actions));
            prop_assert!(acc.virtual_kind != Some(VirtualAccount::Anon), "host asset");
            if let Some(u) = specs.iter().find_map(|s| s.strip_prefix('!')) {
                prop_assert!(acc.username != u);
            }
        }
    }
}
