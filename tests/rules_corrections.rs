//! Corrections: an article may be corrected once, by at most 10 characters counted as an
//! edit distance over characters (Chinese text per character; see
//! `rules_correction_characters.rs` for what a character is); title and summary never
//! change; readers fetching after the correction get the corrected body.

mod common;

use common::*;
use herald::{AccountKind, Content, CorrectError, Message};

fn sent_article(body: &str) -> (herald::Engine, herald::JobId, herald::UserId) {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    let job = engine.send(account, to_all(article("标题", body))).unwrap();
    job.wait();
    (engine, job.id(), f[0].0)
}

fn body_of(engine: &herald::Engine, user: herald::UserId) -> String {
    match &engine.fetch(user, 0, 10).unwrap().items[0].content {
        Content::Message(m) => match &**m {
            Message::Article(a) => a.body.clone(),
            other => panic!("not an article: {other:?}"),
        },
        other => panic!("no message: {other:?}"),
    }
}

#[test]
fn a_correction_of_10_changed_characters_is_accepted_and_readers_get_it() {
    let original = "今天的新闻：市政府发布了新的交通管理规定，从下月起实施。";
    let (engine, job, reader) = sent_article(original);
    // Replace 10 Chinese characters one for one: 10 edits.
    let corrected: String = original
        .chars()
        .enumerate()
        .map(|(i, c)| if (6..16).contains(&i) { '某' } else { c })
        .collect();
    assert_eq!(original.chars().count(), corrected.chars().count());
    engine
        .correct_article(job, article_parts("标题", &corrected))
        .unwrap();
    assert_eq!(body_of(&engine, reader), corrected);
    let info = engine.article(job).unwrap();
    assert_eq!(info.corrections, 1);
}

#[test]
fn a_correction_of_11_changed_characters_is_refused() {
    let original = "今天的新闻：市政府发布了新的交通管理规定，从下月起实施。";
    let (engine, job, reader) = sent_article(original);
    let corrected: String = original
        .chars()
        .enumerate()
        .map(|(i, c)| if (6..17).contains(&i) { '某' } else { c })
        .collect();
    assert_eq!(
        engine.correct_article(job, article_parts("标题", &corrected)),
        Err(CorrectError::TooManyChanges {
            changes: 11,
            more_than: false,
            max: 10
        })
    );
    assert_eq!(body_of(&engine, reader), original, "nothing changed");
}

#[test]
fn insertions_and_deletions_count_as_edits() {
    let (engine, job, reader) = sent_article("abcdefghij");
    // 5 deletions + 5 insertions = 10.
    engine
        .correct_article(job, article_parts("标题", "fghij12345"))
        .unwrap();
    assert_eq!(body_of(&engine, reader), "fghij12345");
    let (engine, job, _) = sent_article("abcdefghij");
    assert!(matches!(
        engine.correct_article(job, article_parts("标题", "abcdefghij12345678901")),
        Err(CorrectError::TooManyChanges { .. })
    ));
}

#[test]
fn an_article_may_be_corrected_only_once() {
    let (engine, job, reader) = sent_article("The quick brown fox");
    engine
        .correct_article(job, article_parts("标题", "The quick brown cat"))
        .unwrap();
    assert_eq!(
        engine.correct_article(job, article_parts("标题", "The quick brown dog")),
        Err(CorrectError::AlreadyCorrected { job, max: 1 })
    );
    assert_eq!(body_of(&engine, reader), "The quick brown cat");
}

#[test]
fn the_title_and_summary_never_change() {
    let (engine, job, _) = sent_article("body");
    assert_eq!(
        engine.correct_article(job, article_parts("新标题", "body!")),
        Err(CorrectError::FixedFieldChanged)
    );
    let mut parts = article_parts("标题", "body!");
    parts.summary = "new summary".into();
    assert_eq!(
        engine.correct_article(job, parts),
        Err(CorrectError::FixedFieldChanged)
    );
    assert_eq!(engine.article(job).unwrap().corrections, 0);
}

#[test]
fn only_articles_can_be_corrected() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    let job = engine.send(account, to_all(text("plain"))).unwrap();
    assert_eq!(
        engine.correct_article(job.id(), article_parts("标题", "x")),
        Err(CorrectError::NotAnArticle)
    );
    let (engine, job, _) = sent_article("same");
    assert_eq!(
        engine.correct_article(job, article_parts("标题", "same")),
        Err(CorrectError::Unchanged)
    );
}

#[test]
fn the_correction_limit_is_configuration() {
    let mut config = config();
    config.rules.correction_max_chars = 2;
    config.rules.corrections_per_article = 2;
    let (engine, _) = engine_with(config, JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    let job = engine
        .send(account, to_all(article("t", "abcdef")))
        .unwrap()
        .id();
    assert!(
        engine
            .correct_article(job, article_parts("t", "xyzdef"))
            .is_err()
    );
    engine
        .correct_article(job, article_parts("t", "xbcdef"))
        .unwrap();
    engine
        .correct_article(job, article_parts("t", "xycdef"))
        .unwrap();
    assert!(
        engine
            .correct_article(job, article_parts("t", "xyzdef"))
            .is_err()
    );
}
