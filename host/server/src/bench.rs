//! `portcullis bench`: the permission engine on a synthetic inventory.
//!
//! Builds the foundation issue's scenario — one user granted 100,000 assets across 10,000
//! nodes through 100 groups and 1,000 permissions — in a fresh database (a temporary SQLite
//! file unless `--database-url` names another), then times the three things the list views do:
//! rebuilding the user's materialized grant after a change, the first page of 100 permitted
//! assets with the total count, and the permitted node tree. Prints a Markdown table and, with
//! `--json FILE`, writes the figures for the benchmark report.
//!
//! `--populate-only` builds the same inventory in the data directory given with `--data-dir`
//! (or the database given with `--database-url`), materializes the user's grant, makes the
//! benchmark user `bench` an ordinary user of the Default org and creates the administrator
//! `admin`, then exits and keeps everything: a data directory for `portcullis serve`, which
//! `tests/bench/api.sh` drives with a load tool (tokens come from `portcullis admin
//! create-token --username bench` / `--username admin`).

use crate::config::{KeySource, ListenOverrides, Overrides};
use anyhow::{Context, Result, bail};
use portcullis_core::builtin::DEFAULT_ORG_ID;
use portcullis_store::Store;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Scenario size and repetitions.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Assets in the inventory (all permitted to the user).
    #[arg(long, default_value_t = 100_000)]
    assets: usize,
    /// Nodes in the tree (one level of top nodes, the rest leaves under them).
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Groups the user belongs to.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Asset permissions, each granting to one group a slice of the leaves plus a few assets.
    #[arg(long, default_value_t = 1_000)]
    permissions: usize,
    /// Timed repetitions per figure.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only build the inventory (plus the users `bench` and `admin`) and keep it: in the
    /// `--data-dir` given (which must not hold assets yet), else in a new temporary directory
    /// whose path is printed. No timings. For `portcullis serve` benchmarks (`tests/bench/api.sh`).
    #[arg(long)]
    populate_only: bool,
    /// Keep the data directory after the timed run and print its path.
    #[arg(long)]
    keep: bool,
}

/// Login name of the user the inventory grants every asset to.
pub const BENCH_USERNAME: &str = "bench";

struct Stats {
    median: Duration,
    p99: Duration,
    min: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p99: at(0.99),
        min: samples[0],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the benchmark.
pub async fn run(common: &Overrides, o: BenchOptions) -> Result<()> {
    if o.nodes < 2 || o.groups == 0 || o.permissions == 0 || o.assets == 0 || o.iterations == 0 {
        bail!(
            "--assets, --groups, --permissions and --iterations must be positive and --nodes at least 2"
        );
    }
    let keep = o.keep || o.populate_only;
    let mut common = common.clone();
    let tmp = match (&common.data_dir, keep) {
        (Some(dir), true) => dir.clone(),
        _ => std::env::temp_dir().join(format!("portcullis-bench-{}", Uuid::new_v4().simple())),
    };
    if common.database_url.is_none() {
        common.data_dir = Some(tmp.clone());
    } else if !keep {
        common.master_key = Some(
            portcullis_core::vault::MasterKey::generate()
                .to_base64()
                .to_string(),
        );
        common.master_key_file = None;
    }
    let opened = crate::setup::open(&common, &ListenOverrides::default()).await?;
    let store = opened.store.clone();
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets")
        .fetch_one(store.pool())
        .await?;
    if existing > 0 {
        bail!("the benchmark needs an empty database (this one has {existing} assets)");
    }
    eprintln!(
        "building the inventory: {} assets, {} nodes, {} groups, {} permissions …",
        o.assets, o.nodes, o.groups, o.permissions
    );
    let t = Instant::now();
    let user = populate(&store, &o)
        .await
        .context("building the synthetic inventory")?;
    let populate_time = t.elapsed();

    if o.populate_only {
        let t = Instant::now();
        let report = store.rebuild_user_perms(user).await?;
        if report.assets != o.assets {
            bail!(
                "expected {} permitted assets, the engine found {}",
                o.assets,
                report.assets
            );
        }
        let admin_password = ensure_admin(&store).await?;
        eprintln!(
            "inventory built in {:.1} s, grant materialized in {:.1} s",
            populate_time.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        store.close().await;
        if common.database_url.is_none() {
            println!("data_dir={}", tmp.display());
        }
        println!("bench_user={BENCH_USERNAME}");
        println!("admin_user=admin");
        if let Some(p) = admin_password {
            println!("admin_password={}", p.expose());
        }
        return Ok(());
    }

    let mut rebuild = Vec::new();
    let mut report = None;
    for _ in 0..o.iterations.min(5) {
        let t = Instant::now();
        report = Some(store.rebuild_user_perms(user).await?);
        rebuild.push(t.elapsed());
    }
    let report = report.context("no rebuild ran")?;
    if report.assets != o.assets {
        bail!(
            "expected {} permitted assets, the engine found {}",
            o.assets,
            report.assets
        );
    }
    let mut page = Vec::new();
    let mut count = 0;
    for _ in 0..o.iterations {
        let t = Instant::now();
        let p = store
            .user_permitted_assets(user, Some(DEFAULT_ORG_ID), 0, 100)
            .await?;
        page.push(t.elapsed());
        count = p.count;
    }
    let mut tree = Vec::new();
    let mut node_count = 0;
    for _ in 0..o.iterations {
        let t = Instant::now();
        node_count = store
            .user_permitted_nodes(user, Some(DEFAULT_ORG_ID))
            .await?
            .len();
        tree.push(t.elapsed());
    }
    let sample: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM assets ORDER BY name LIMIT 1 OFFSET {}",
        4242.min(o.assets - 1)
    )))
    .fetch_one(store.pool())
    .await?;
    let sample = Uuid::parse_str(&sample)?;
    let mut grant = Vec::new();
    for _ in 0..o.iterations {
        let t = Instant::now();
        store
            .user_asset_grant(user, sample)
            .await?
            .context("sample asset not permitted")?;
        grant.push(t.elapsed());
    }

    let backend = store.backend().name();
    let rows = [
        (
            "rebuild of the user's grant (cold, after any change)",
            stats(rebuild),
        ),
        (
            "first page of 100 permitted assets + total count",
            stats(page),
        ),
        ("permitted node tree with asset counts", stats(tree)),
        (
            "one asset's grant (accounts, protocols, actions)",
            stats(grant),
        ),
    ];
    println!(
        "Permission engine on {backend}: {} assets, {} nodes, {} groups, {} permissions ({count} permitted, {node_count} tree nodes); inventory built in {:.1} s",
        o.assets,
        o.nodes,
        o.groups,
        o.permissions,
        populate_time.as_secs_f64()
    );
    println!();
    println!("| figure | median ms | p99 ms | min ms |");
    println!("|---|---|---|---|");
    for (name, s) in &rows {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            ms(s.median),
            ms(s.p99),
            ms(s.min)
        );
    }
    if let Some(path) = &o.json {
        let doc = json!({
            "backend": backend,
            "assets": o.assets, "nodes": o.nodes, "groups": o.groups, "permissions": o.permissions,
            "iterations": o.iterations,
            "figures": rows.iter().map(|(name, s)| json!({"name": name, "median_ms": ms(s.median), "p99_ms": ms(s.p99), "min_ms": ms(s.min)})).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    store.close().await;
    if keep {
        if common.database_url.is_none() {
            println!();
            println!("data directory kept: {}", tmp.display());
        }
    } else if matches!(opened.config.key, KeySource::File(_)) && tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

/// Creates the administrator `admin` (system admin, admin of the Default org) unless a user of
/// that name exists — `serve` only does so in an empty database, and the inventory already
/// holds `bench`. Returns the generated password when it created the user.
async fn ensure_admin(store: &Store) -> Result<Option<portcullis_core::secret::SecretString>> {
    use portcullis_core::builtin;
    if store.user_by_username("admin").await?.is_some() {
        return Ok(None);
    }
    let password = crate::admin::generate_password();
    store
        .create_user(&portcullis_store::users::NewUser {
            name: "Administrator".into(),
            username: "admin".into(),
            email: "admin@example.com".into(),
            password: password.clone(),
            system_role: builtin::SYSTEM_ADMIN_ROLE_ID,
            org_role: Some((builtin::ORG_ADMIN_ROLE_ID, builtin::DEFAULT_ORG_ID)),
            created_by: "bench".into(),
            need_update_password: false,
        })
        .await
        .context("creating the administrator")?;
    Ok(Some(password))
}

/// Multi-row INSERT: each row binds its text values as parameters and ends with `tail`, a
/// literal we generate (numbers), because the `Any` driver binds text and PostgreSQL will not
/// cast a text parameter into a BIGINT column.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    head: &str,
    tail: &str,
    rows: &[Vec<String>],
) -> Result<()> {
    let Some(cols) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    for chunk in rows.chunks(400) {
        let values = (0..chunk.len())
            .map(|r| {
                let params = (1..=cols)
                    .map(|c| format!("${}", r * cols + c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({params}{tail})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{head} VALUES {values}")));
        for row in chunk {
            for v in row {
                q = q.bind(v.clone());
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn populate(store: &Store, o: &BenchOptions) -> Result<Uuid> {
    let org = DEFAULT_ORG_ID.to_string();
    let now = chrono::Utc::now().timestamp_micros();
    let stamps = format!(", {now}, {now}");
    let window = format!(
        ", {}, {}, {now}, {now}",
        now - 3_600_000_000,
        now + 3_600_000_000 * 24 * 3650
    );
    let mut tx = store.pool().begin().await?;

    // Nodes: `tops` children of the root, the rest spread as leaves under them.
    let tops = ((o.nodes as f64).sqrt() as usize).max(1);
    let mut leaves: Vec<String> = Vec::new();
    let mut node_rows = Vec::new();
    let mut made = 1; // the seeded root
    for t in 1..=tops {
        if made >= o.nodes {
            break;
        }
        node_rows.push(vec![
            Uuid::new_v4().to_string(),
            org.clone(),
            format!("1:{t}"),
            format!("top{t}"),
            "1".into(),
        ]);
        made += 1;
    }
    let mut child = 0usize;
    while made < o.nodes {
        let t = child % tops + 1;
        let n = child / tops + 1;
        let id = Uuid::new_v4().to_string();
        node_rows.push(vec![
            id.clone(),
            org.clone(),
            format!("1:{t}:{n}"),
            format!("leaf{t}-{n}"),
            format!("1:{t}"),
        ]);
        leaves.push(id);
        made += 1;
        child += 1;
    }
    if leaves.is_empty() {
        leaves = node_rows.iter().map(|r| r[0].clone()).collect();
    }
    insert_rows(
        &mut tx,
        "INSERT INTO nodes (id, org_id, key, value, parent_key, date_created, date_updated)",
        &stamps,
        &node_rows,
    )
    .await?;

    // Assets, each in one leaf (every tenth also in a second one).
    let mut asset_ids = Vec::with_capacity(o.assets);
    let mut asset_rows = Vec::with_capacity(o.assets);
    let mut membership = Vec::with_capacity(o.assets + o.assets / 10);
    for i in 0..o.assets {
        let id = Uuid::new_v4().to_string();
        asset_rows.push(vec![
            id.clone(),
            org.clone(),
            format!("host-{i:06}"),
            format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256),
        ]);
        membership.push(vec![id.clone(), leaves[i % leaves.len()].clone()]);
        if i % 10 == 0 && leaves.len() > 1 {
            membership.push(vec![
                id.clone(),
                leaves[(i / 10 + 1) % leaves.len()].clone(),
            ]);
        }
        asset_ids.push(id);
    }
    membership.sort();
    membership.dedup();
    let asset_tail = format!(", 1, 'host', 'linux'{stamps}");
    insert_rows(&mut tx, "INSERT INTO assets (id, org_id, name, address, platform_id, category, type, date_created, date_updated)", &asset_tail, &asset_rows).await?;
    insert_rows(
        &mut tx,
        "INSERT INTO asset_nodes (asset_id, node_id)",
        "",
        &membership,
    )
    .await?;

    // The user, in every group: an ordinary user of the Default org, as the API sees one.
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, name, username, email, date_joined, date_created, date_updated) VALUES ($1, $2, $2, 'bench@example.com', $3, $3, $3)")
        .bind(user.to_string())
        .bind(BENCH_USERNAME)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await?;
    let bindings = [
        (
            portcullis_core::builtin::SYSTEM_USER_ROLE_ID,
            "system",
            None,
        ),
        (
            portcullis_core::builtin::ORG_USER_ROLE_ID,
            "org",
            Some(org.clone()),
        ),
    ];
    for (role, scope, role_org) in bindings {
        sqlx::query("INSERT INTO role_bindings (id, user_id, role_id, scope, org_id, created_by, date_created, date_updated) VALUES ($1, $2, $3, $4, $5, 'bench', $6, $6)")
            .bind(Uuid::new_v4().to_string())
            .bind(user.to_string())
            .bind(role.to_string())
            .bind(scope)
            .bind(role_org)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    let groups: Vec<String> = (0..o.groups).map(|_| Uuid::new_v4().to_string()).collect();
    let group_rows: Vec<Vec<String>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| vec![g.clone(), org.clone(), format!("group-{i}")])
        .collect();
    insert_rows(
        &mut tx,
        "INSERT INTO user_groups (id, org_id, name, date_created, date_updated)",
        &stamps,
        &group_rows,
    )
    .await?;
    let members: Vec<Vec<String>> = groups
        .iter()
        .map(|g| vec![g.clone(), user.to_string()])
        .collect();
    insert_rows(
        &mut tx,
        "INSERT INTO user_group_members (user_group_id, user_id)",
        "",
        &members,
    )
    .await?;

    // Permissions: each to one group, a contiguous slice of leaves, and five direct assets.
    let per = leaves.len().div_ceil(o.permissions);
    let mut perm_rows = Vec::new();
    let mut perm_groups = Vec::new();
    let mut perm_nodes = Vec::new();
    let mut perm_assets = Vec::new();
    for p in 0..o.permissions {
        let id = Uuid::new_v4().to_string();
        perm_rows.push(vec![
            id.clone(),
            org.clone(),
            format!("perm-{p}"),
            "[\"@ALL\"]".to_owned(),
        ]);
        perm_groups.push(vec![id.clone(), groups[p % groups.len()].clone()]);
        for leaf in leaves.iter().skip(p * per).take(per) {
            perm_nodes.push(vec![id.clone(), leaf.clone()]);
        }
        for k in 0..5 {
            perm_assets.push(vec![
                id.clone(),
                asset_ids[(p * 97 + k * 13) % asset_ids.len()].clone(),
            ]);
        }
    }
    perm_assets.sort();
    perm_assets.dedup();
    insert_rows(&mut tx, "INSERT INTO asset_permissions (id, org_id, name, accounts, date_start, date_expired, date_created, date_updated)", &window, &perm_rows).await?;
    insert_rows(
        &mut tx,
        "INSERT INTO perm_user_groups (permission_id, user_group_id)",
        "",
        &perm_groups,
    )
    .await?;
    insert_rows(
        &mut tx,
        "INSERT INTO perm_nodes (permission_id, node_id)",
        "",
        &perm_nodes,
    )
    .await?;
    insert_rows(
        &mut tx,
        "INSERT INTO perm_assets (permission_id, asset_id)",
        "",
        &perm_assets,
    )
    .await?;
    tx.commit().await?;
    // Fresh statistics, as a long-running installation has them.
    sqlx::query("ANALYZE").execute(store.pool()).await?;
    Ok(user)
}
