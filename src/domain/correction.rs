//! Corrections of sent articles: the body may change by a bounded number of characters, the
//! title and summary never.
//!
//! ## What counts as a character
//! What a reader sees: both bodies are brought to Unicode Normalization Form C, then cut into
//! user-perceived characters, the extended grapheme clusters of Unicode Standard Annex #29
//! (`unicode-normalization`, `unicode-segmentation`). So a Chinese character counts one, like
//! a Latin letter; a family emoji (seven scalar values joined by zero-width joiners) or a
//! flag (two regional indicators) counts one; `e` + a combining acute accent and the
//! precomposed `é` are the same character, and rewriting one as the other changes nothing.
//! The count is the Levenshtein edit distance over those characters: insertions, deletions
//! and replacements.
//!
//! ## Cost
//! The distance is computed with Ukkonen's cut-off: only the diagonal band of width
//! `2 * max + 1` of the dynamic-programming matrix is filled, so checking a 20,000-character
//! body against a limit of 10 costs O(n * max), not O(n²). A refused correction is counted
//! again with a wider band, up to [`COUNTED_PAST_LIMIT`] changes past the limit, so the
//! refusal can say how many it changes without a rewrite costing O(n²).

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// How far past the limit a refused correction's changes are counted exactly.
pub(crate) const COUNTED_PAST_LIMIT: usize = 100;

/// How many characters a correction changes, as far as it was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Changes {
    /// Exactly this many.
    Exactly(usize),
    /// More than this many (counting stopped there).
    MoreThan(usize),
}

/// The characters `original` would have to change to become `corrected` (see the module
/// doc), counted exactly up to `max` and, past it, up to `max + COUNTED_PAST_LIMIT`.
pub(crate) fn count_changes(original: &str, corrected: &str, max: usize) -> Changes {
    let original: String = original.nfc().collect();
    let corrected: String = corrected.nfc().collect();
    let a: Vec<&str> = original.graphemes(true).collect();
    let b: Vec<&str> = corrected.graphemes(true).collect();
    if let Some(d) = bounded_edit_distance(&a, &b, max) {
        return Changes::Exactly(d);
    }
    let bound = max.saturating_add(COUNTED_PAST_LIMIT);
    match bounded_edit_distance(&a, &b, bound) {
        Some(d) => Changes::Exactly(d),
        None => Changes::MoreThan(bound),
    }
}

/// The edit distance between `a` and `b` if it is at most `max`, else `None`.
pub(crate) fn bounded_edit_distance<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    // Common prefix and suffix cost nothing; strip them to keep the band small.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > max {
        return None;
    }
    if n == 0 || m == 0 {
        return Some(n.max(m));
    }
    const FAR: usize = usize::MAX / 2;
    // prev[j], cur[j]: distance between a[..i] and b[..j], only for |i - j| <= max.
    let mut prev: Vec<usize> = (0..=m).map(|j| if j <= max { j } else { FAR }).collect();
    let mut cur = vec![FAR; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(m);
        cur.iter_mut().for_each(|c| *c = FAR);
        cur[0] = if i <= max { i } else { FAR };
        let mut row_min = cur[0];
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let v = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[m]).filter(|&d| d <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                cur[j] = (prev[j - 1] + usize::from(a[i - 1] != b[j - 1]))
                    .min(prev[j] + 1)
                    .min(cur[j - 1] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn chinese_characters_count_one_each() {
        let d = |a, b| count_changes(a, b, 10);
        assert_eq!(d("今天天气很好", "今天天气不好"), Changes::Exactly(1));
        assert_eq!(d("今天", "今天下雨了"), Changes::Exactly(3));
        assert_eq!(d("abc", "abcdefghijklmn"), Changes::Exactly(11));
        assert_eq!(d("", &"x".repeat(200)), Changes::MoreThan(110));
    }

    #[test]
    fn characters_are_what_a_reader_sees() {
        let d = |a, b| count_changes(a, b, 10);
        // A family (7 scalar values) replaced by the single-scalar family emoji.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}";
        assert_eq!(d(family, "\u{1F46A}"), Changes::Exactly(1));
        assert_eq!(d("🇨🇳🇨🇳", "🇯🇵🇯🇵"), Changes::Exactly(2));
        assert_eq!(d("Cafe\u{301}", "Caf\u{e9}"), Changes::Exactly(0));
        assert_eq!(d("resume", "re\u{301}sume"), Changes::Exactly(1));
        // Hangul jamo compose under NFC: one syllable either way.
        assert_eq!(d("\u{1100}\u{1161}", "\u{AC00}"), Changes::Exactly(0));
    }

    proptest! {
        #[test]
        fn agrees_with_the_full_matrix(a in "[a-c你好]{0,14}", b in "[a-c你好]{0,14}", max in 0usize..12) {
            let d = full(&a, &b);
            prop_assert_eq!(bounded_edit_distance(&chars(&a), &chars(&b), max), (d <= max).then_some(d));
        }

        #[test]
        fn counts_exactly_up_to_the_bound(a in "[a-c]{0,130}", b in "[a-c]{0,130}", max in 0usize..12) {
            let d = full(&a, &b);
            let bound = max + COUNTED_PAST_LIMIT;
            let expected = if d <= bound { Changes::Exactly(d) } else { Changes::MoreThan(bound) };
            prop_assert_eq!(count_changes(&a, &b, max), expected);
        }
    }
}
