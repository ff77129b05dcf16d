//! A tag's followers in pages (`Engine::tag_followers_page`, behind WeChat's `user/tag/get`)
//! and tag renames (`Engine::rename_tag`, behind `tags/update`): pages cover the tag's
//! members exactly once in OpenID order, and refusals change nothing.

mod common;

use common::*;
use herald::{AccountKind, OpenId, QueryError, TagError, TagId};
use std::collections::BTreeSet;

#[test]
fn a_tags_followers_come_in_pages_each_once_in_openid_order() {
    let (engine, _) = engine_at(JAN_1_2024);
    let a = account(&engine, "svc", AccountKind::Service);
    let all = followers(&engine, a, 25_000);
    let tag = engine.create_tag(a, "even").unwrap();
    let other = engine.create_tag(a, "none").unwrap();
    // Every second follower, 50 a batch.
    let tagged: Vec<OpenId> = all.iter().step_by(2).map(|(_, o)| *o).collect();
    for batch in tagged.chunks(50) {
        engine.tag_followers(a, tag, batch).unwrap();
    }
    let expected: BTreeSet<u64> = tagged.iter().map(|o| o.0).collect();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = engine.tag_followers_page(a, tag, after, 10_000).unwrap();
        assert_eq!(page.total, 12_500);
        assert!(page.open_ids.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert!(after.is_none_or(|after: OpenId| page.open_ids[0] > after));
        seen.extend(page.open_ids.iter().map(|o| o.0));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), page.open_ids.last());
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 12_500);
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), expected);
    // An empty tag, an unknown tag, a bad cursor, a bad page size.
    let empty = engine.tag_followers_page(a, other, None, 10).unwrap();
    assert_eq!(
        (empty.open_ids.len(), empty.next, empty.total),
        (0, None, 0)
    );
    assert_eq!(
        engine
            .tag_followers_page(a, TagId(99), None, 10)
            .unwrap_err(),
        QueryError::UnknownTag(TagId(99))
    );
    let b = account(&engine, "other", AccountKind::Service);
    let foreign = followers(&engine, b, 1)[0].1;
    assert_eq!(
        engine
            .tag_followers_page(a, tag, Some(foreign), 10)
            .unwrap_err(),
        QueryError::InvalidOpenId(foreign)
    );
    assert!(matches!(
        engine.tag_followers_page(a, tag, None, 0),
        Err(QueryError::PageSize { .. })
    ));
    assert!(matches!(
        engine.tag_followers_page(a, tag, None, 10_001),
        Err(QueryError::PageSize { .. })
    ));
    // Untagged followers leave the pages.
    engine.untag_followers(a, tag, &tagged[..50]).unwrap();
    assert_eq!(
        engine.tag_followers_page(a, tag, None, 1).unwrap().total,
        12_450
    );
}

#[test]
fn renames_keep_names_unique_and_refusals_change_nothing() {
    let (engine, _) = engine_at(JAN_1_2024);
    let a = account(&engine, "svc", AccountKind::Service);
    let x = engine.create_tag(a, "x").unwrap();
    let y = engine.create_tag(a, "y").unwrap();
    engine.rename_tag(a, x, "x2").unwrap();
    engine.rename_tag(a, x, "x2").unwrap(); // its own name
    assert_eq!(
        engine.rename_tag(a, x, "y").unwrap_err(),
        TagError::DuplicateName("y".into())
    );
    assert!(matches!(
        engine.rename_tag(a, y, ""),
        Err(TagError::InvalidName { .. })
    ));
    assert!(matches!(
        engine.rename_tag(a, y, &"n".repeat(31)),
        Err(TagError::InvalidName { .. })
    ));
    assert_eq!(
        engine.rename_tag(a, TagId(7), "z").unwrap_err(),
        TagError::UnknownTag(TagId(7))
    );
    engine.delete_tag(a, y).unwrap();
    assert_eq!(
        engine.rename_tag(a, y, "y").unwrap_err(),
        TagError::UnknownTag(y)
    );
    let names: Vec<String> = engine
        .tags(a)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["x2".to_string()]);
    // The freed name can be taken again.
    engine.create_tag(a, "y").unwrap();
}
