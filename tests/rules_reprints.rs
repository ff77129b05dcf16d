//! Reprints and originality: an article open for reprint can be reprinted by another
//! account with attribution; an article matching another account's article that is not
//! declared a reprint is refused as unoriginal unless the sender continues as a reprint.

mod common;

use common::*;
use herald::{AccountKind, SendError, SendRequest};

const BODY: &str = "一篇原创文章的正文，讲述肇庆的七星岩。";

#[test]
fn an_article_open_for_reprint_can_be_reprinted_with_attribution() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let other = account(&engine, "other", AccountKind::Service);
    followers(&engine, author, 1);
    let readers = followers(&engine, other, 2);
    let original = engine
        .send(author, to_all(article("七星岩", BODY)).open_for_reprint())
        .unwrap()
        .id();
    let reprint = engine
        .send(other, to_all(article("七星岩", BODY)).reprint_of(original))
        .unwrap();
    assert_eq!(reprint.wait().sent, 2);
    let info = engine.article(reprint.id()).unwrap();
    assert_eq!(info.reprint_of, Some(original));
    assert_eq!(info.reprint_of.unwrap().account, author);
    assert!(engine.article(original).unwrap().open_for_reprint);
    engine.wait_idle().unwrap();
    assert_eq!(engine.fetch(readers[0].0, 0, 10).unwrap().items.len(), 1);
}

#[test]
fn an_article_not_open_for_reprint_cannot_be_reprinted() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let other = account(&engine, "other", AccountKind::Service);
    followers(&engine, other, 1);
    let original = engine
        .send(author, to_all(article("t", BODY)))
        .unwrap()
        .id();
    assert_eq!(
        engine
            .send(other, to_all(article("t", BODY)).reprint_of(original))
            .unwrap_err(),
        SendError::ReprintNotOpen(original)
    );
}

#[test]
fn a_matching_article_not_declared_a_reprint_is_refused_as_unoriginal() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let copier = account(&engine, "copier", AccountKind::Service);
    let f = followers(&engine, copier, 1);
    let original = engine
        .send(author, to_all(article("t", BODY)))
        .unwrap()
        .id();
    // Re-wrapping the text does not make it original.
    let rewrapped = BODY.replace('，', "，\n  ");
    assert_eq!(
        engine
            .send(copier, to_all(article("another title", &rewrapped)))
            .unwrap_err(),
        SendError::Unoriginal { original }
    );
    engine.wait_idle().unwrap();
    assert!(engine.fetch(f[0].0, 0, 10).unwrap().items.is_empty());
}

#[test]
fn the_sender_may_continue_an_unoriginal_article_as_a_reprint() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let copier = account(&engine, "copier", AccountKind::Service);
    followers(&engine, copier, 1);
    let original = engine
        .send(author, to_all(article("t", BODY)))
        .unwrap()
        .id();
    let job = engine
        .send(copier, to_all(article("t", BODY)).continue_as_reprint())
        .unwrap();
    assert_eq!(engine.article(job.id()).unwrap().reprint_of, Some(original));
}

#[test]
fn an_account_may_resend_its_own_article_and_different_articles_are_original() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let other = account(&engine, "other", AccountKind::Service);
    engine.send(author, to_all(article("t", BODY))).unwrap();
    engine.send(author, to_all(article("t", BODY))).unwrap();
    let job = engine
        .send(other, to_all(article("t", "完全不同的正文。")))
        .unwrap();
    assert_eq!(engine.article(job.id()).unwrap().reprint_of, None);
}

#[test]
fn reprint_options_apply_only_to_articles() {
    let (engine, _) = engine_at(JAN_1_2024);
    let a = account(&engine, "a", AccountKind::Service);
    assert_eq!(
        engine
            .send(
                a,
                SendRequest::new(text("x"), herald::Audience::All).open_for_reprint()
            )
            .unwrap_err(),
        SendError::NotAnArticle
    );
    let missing = herald::JobId {
        account: herald::AccountId(7),
        seq: herald::Seq(1),
    };
    assert_eq!(
        engine
            .send(a, to_all(article("t", BODY)).reprint_of(missing))
            .unwrap_err(),
        SendError::UnknownOriginal(missing)
    );
}

#[test]
fn a_retracted_original_no_longer_makes_copies_unoriginal() {
    let (engine, _) = engine_at(JAN_1_2024);
    let author = account(&engine, "author", AccountKind::Service);
    let other = account(&engine, "other", AccountKind::Service);
    let original = engine
        .send(author, to_all(article("t", BODY)))
        .unwrap()
        .id();
    engine.retract(original).unwrap();
    engine.send(other, to_all(article("t", BODY))).unwrap();
}
