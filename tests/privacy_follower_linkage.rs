//! Regression (issue 12, item 10): follower lists linked accounts. `followers_page` (and
//! the export) listed every account's followers in internal user-id order, so two accounts
//! sharing 10,000 followers held the same user at all 10,000 positions: zipping the two
//! lists linked account A's OpenIDs to account B's, and the order leaked the internal id
//! order. Followers are now listed in OpenID order; these tests measure the linkage that is
//! left, which must be chance.

use herald::{AccountId, Engine, EngineConfig, OpenId, UserId};

const SHARED: u32 = 10_000;

fn engine() -> Engine {
    Engine::new(EngineConfig {
        openid_secret: *b"linkage-test-key",
        ..EngineConfig::default()
    })
}

/// Every follower of `account`, as internal user ids, in the order the pages give them.
fn listed(engine: &Engine, account: AccountId, page: usize) -> Vec<u32> {
    let mut users = Vec::new();
    let mut after: Option<OpenId> = None;
    loop {
        let p = engine.followers_page(account, after, page).unwrap();
        users.extend(
            p.open_ids
                .iter()
                .map(|id| engine.user_of(account, *id).unwrap().0),
        );
        match p.next {
            Some(next) => after = Some(next),
            None => return users,
        }
    }
}

/// Spearman's rank correlation of two equally long sequences of distinct values.
fn rank_correlation(x: &[u32], y: &[u32]) -> f64 {
    fn ranks(v: &[u32]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_unstable_by_key(|&i| v[i]);
        let mut r = vec![0.0; v.len()];
        for (rank, i) in order.into_iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let d2: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - b) * (a - b)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Two accounts with the same 10,000 followers (scattered over 1,000,000 users), read in
/// pages of 1,000 (the cached path) and of 10,000 (one page, computed directly).
#[test]
fn two_accounts_sharing_followers_list_them_in_unrelated_orders() {
    let engine = engine();
    engine.add_users(1_000_000).unwrap();
    let a = engine.register_account("a").unwrap();
    let b = engine.register_account("b").unwrap();
    let shared: Vec<UserId> = (0..SHARED)
        .map(|i| UserId(i.wrapping_mul(2_654_435_761) % 1_000_000))
        .collect();
    for account in [a, b] {
        assert_eq!(engine.follow_many(account, &shared), Ok(u64::from(SHARED)));
    }
    for page in [1_000, 10_000] {
        let (in_a, in_b) = (listed(&engine, a, page), listed(&engine, b, page));
        assert_eq!((in_a.len(), in_b.len()), (SHARED as usize, SHARED as usize));

        // Zipping the lists: the same user at the same position. Two independent random
        // orders agree at 1 position on average (Poisson(1): more than 10 has odds of 1 in
        // 10^8); the id order agreed at all 10,000.
        let same = in_a.iter().zip(&in_b).filter(|(x, y)| x == y).count();
        assert!(
            same <= 10,
            "page {page}: {same} of {SHARED} positions hold the same user in both accounts"
        );

        // Where a user sits in A says nothing of where it sits in B.
        let mut pos_in_b = std::collections::HashMap::new();
        for (i, u) in in_b.iter().enumerate() {
            pos_in_b.insert(*u, i as u32);
        }
        let pos_a: Vec<u32> = (0..SHARED).collect();
        let pos_b: Vec<u32> = in_a.iter().map(|u| pos_in_b[u]).collect();
        let across = rank_correlation(&pos_a, &pos_b);
        // For independent orders the correlation has a standard deviation of 1/sqrt(9,999)
        // = 0.01: 0.05 is five of them.
        assert!(
            across.abs() < 0.05,
            "page {page}: positions across accounts correlate {across}"
        );

        // And neither order follows the internal ids.
        for (name, list) in [("a", &in_a), ("b", &in_b)] {
            let rho = rank_correlation(&pos_a, list);
            assert!(
                rho.abs() < 0.05,
                "page {page}: {name}'s order correlates {rho} with user ids"
            );
            let rising =
                list.windows(2).filter(|w| w[0] < w[1]).count() as f64 / (list.len() - 1) as f64;
            assert!(
                (rising - 0.5).abs() < 0.03,
                "page {page}: {name}: {rising} of neighbours in rising id order"
            );
        }
    }
}

/// The order is a function of the OpenIDs alone: ascending, so an account learns nothing
/// from it beyond the OpenIDs it already sees.
#[test]
fn pages_are_in_ascending_openid_order() {
    let engine = engine();
    let users = engine.add_users(5_000).unwrap();
    let account = engine.register_account("news").unwrap();
    let all: Vec<UserId> = users.iter().collect();
    engine.follow_many(account, &all).unwrap();
    for page in [7, 2_000, 10_000] {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let p = engine.followers_page(account, after, page).unwrap();
            ids.extend(p.open_ids.iter().map(|id| id.0));
            match p.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(ids.len(), 5_000);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "page {page}");
    }
}

/// The export listed followers in user-id order: two accounts' exports zipped like their
/// pages. It now lists them in OpenID order.
#[test]
fn exports_list_followers_in_openid_order() {
    let engine = engine();
    engine.add_users(100_000).unwrap();
    let shared: Vec<UserId> = (0..2_000u32).map(|i| UserId(i * 37 + 5)).collect();
    let dir = std::env::temp_dir().join(format!("herald-linkage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut lists = Vec::new();
    for name in ["a", "b"] {
        let account = engine.register_account(name).unwrap();
        engine.follow_many(account, &shared).unwrap();
        let path = dir.join(format!("{name}.jsonl"));
        engine.export(account, &path).unwrap();
        let ids: Vec<OpenId> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(r#""type":"follower","open_id":""#))
            .map(|(_, rest)| rest[..16].parse().unwrap())
            .collect();
        assert_eq!(ids.len(), shared.len());
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{name}: not in OpenID order"
        );
        lists.push(
            ids.iter()
                .map(|id| engine.user_of(account, *id).unwrap().0)
                .collect::<Vec<u32>>(),
        );
    }
    let same = lists[0]
        .iter()
        .zip(&lists[1])
        .filter(|(x, y)| x == y)
        .count();
    assert!(
        same <= 10,
        "{same} of 2,000 export positions hold the same user"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
