//! Corrections of sent articles: the body may change by a bounded number of characters,
//! counted as the Levenshtein edit distance over Unicode scalar values (so a Chinese
//! character counts as one, like a Latin letter), the title and summary never.
//!
//! The distance is computed with Ukkonen's cut-off: only the diagonal band of width
//! `2 * max + 1` of the dynamic-programming matrix is filled, so checking a 20,000-character
//! body against a limit of 10 costs O(n * max), not O(n²).

/// The edit distance between `a` and `b` if it is at most `max`, else `None`.
pub(crate) fn bounded_edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Common prefix and suffix cost nothing; strip them to keep the band small.
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
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

    #[test]
    fn chinese_characters_count_one_each() {
        assert_eq!(
            bounded_edit_distance("今天天气很好", "今天天气不好", 10),
            Some(1)
        );
        assert_eq!(bounded_edit_distance("今天", "今天下雨了", 10), Some(3));
        assert_eq!(bounded_edit_distance("abc", "abcdefghijklmn", 10), None);
    }

    proptest! {
        #[test]
        fn agrees_with_the_full_matrix(a in "[a-c你好]{0,14}", b in "[a-c你好]{0,14}", max in 0usize..12) {
            let d = full(&a, &b);
            prop_assert_eq!(bounded_edit_distance(&a, &b, max), (d <= max).then_some(d));
        }
    }
}
