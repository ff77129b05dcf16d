//! A correction's "at most 10 characters" was counted over Unicode scalar values, not over
//! what a reader sees: one family emoji replaced by another counted 7, six changed flags
//! counted 12 (refused), and `e` + combining accent rewritten as the identical-looking `é`
//! used up 2. Changes are now counted over user-perceived characters (extended grapheme
//! clusters) after NFC normalization, and a refusal says how many it counted.

mod common;

use common::*;
use herald::{AccountKind, CorrectError, Engine, JobId};

fn sent_article(body: &str) -> (Engine, JobId) {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    let job = engine.send(account, to_all(article("标题", body))).unwrap();
    job.wait();
    (engine, job.id())
}

fn correct(engine: &Engine, job: JobId, body: &str) -> Result<(), CorrectError> {
    engine.correct_article(job, article_parts("标题", body))
}

/// 👨‍👩‍👧‍👦 is seven scalar values (four people joined by three zero-width joiners) and one
/// character on screen: replacing two of them by 👪 counted 14.
#[test]
fn a_family_emoji_replaced_by_another_counts_one() {
    let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}";
    let (engine, job) = sent_article(&format!("{family} 欢迎 {family}"));
    assert_eq!(correct(&engine, job, "\u{1F46A} 欢迎 \u{1F46A}"), Ok(()));
}

/// A flag is two regional indicators: six changed flags counted 12 and were refused.
#[test]
fn six_changed_flags_count_six() {
    let (engine, job) = sent_article("🇨🇳🇨🇳🇨🇳🇨🇳🇨🇳🇨🇳 国庆");
    assert_eq!(correct(&engine, job, "🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵 国庆"), Ok(()));
}

/// `e` + U+0301 and U+00E9 are the same text after NFC: rewriting one as the other used up
/// 2 of the 10, so with 9 real changes the correction was refused.
#[test]
fn rewriting_a_combining_accent_as_a_precomposed_letter_costs_nothing() {
    let (engine, job) = sent_article("Cafe\u{301} 0123456789");
    assert_eq!(correct(&engine, job, "Caf\u{e9} abcdefghi9"), Ok(()));
}

/// Guards the fix (this one held before): adding an accent to a letter changes one
/// character a reader sees, `e` becoming `é`, and counts one.
#[test]
fn an_added_combining_accent_counts_one() {
    let (engine, job) = sent_article("resume 0123456789");
    // e -> e + U+0301 twice (2), and 8 digits replaced (8): 10 in all.
    assert_eq!(
        correct(&engine, job, "re\u{301}sume\u{301} abcdefgh89"),
        Ok(())
    );
    let (engine, job) = sent_article("resume 0123456789");
    // One more replaced digit is 11.
    assert!(matches!(
        correct(&engine, job, "re\u{301}sume\u{301} abcdefghi9"),
        Err(CorrectError::TooManyChanges { .. })
    ));
}

/// The refusal said only "changes at most 10 characters", not how many were counted.
#[test]
fn a_refused_correction_says_how_many_changes_it_counted() {
    let original = "今天的新闻：市政府发布了新的交通管理规定，从下月起实施。";
    let eleven: String = original
        .chars()
        .enumerate()
        .map(|(i, c)| if (6..17).contains(&i) { '某' } else { c })
        .collect();
    let (engine, job) = sent_article(original);
    let text = correct(&engine, job, &eleven).unwrap_err().to_string();
    assert!(text.contains("11"), "{text}");
    assert!(text.contains("10"), "{text}");
    // A rewrite is counted up to a bound, and says so.
    let rewrite = "x".repeat(5_000);
    let text = correct(&engine, job, &rewrite).unwrap_err().to_string();
    assert!(text.contains("more than"), "{text}");
}

/// A second correction was refused with "(at most 1 times)".
#[test]
fn a_second_correction_says_once() {
    let (engine, job) = sent_article("abcdefghij");
    correct(&engine, job, "abcdefghiX").unwrap();
    let text = correct(&engine, job, "abcdefghiY").unwrap_err().to_string();
    assert!(!text.contains("1 times"), "{text}");
    assert!(text.contains("once"), "{text}");
}
