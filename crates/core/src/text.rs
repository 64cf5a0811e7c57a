//! Small text helpers shared by the config and template crates.

/// The candidate closest to `unknown`, if one is close enough to be a likely typo: a few
/// edits away, or made of the same `_`-separated words (`secret_id_path` for
/// `secret_id_file_path`).
pub fn suggest<'k>(unknown: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| (levenshtein(&unknown_lower, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len().max(unknown.len()) / 3).max(2)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
        .or_else(|| {
            // `secret_id_path` for `secret_id_file_path`: one key contains the other's words.
            candidates.iter().copied().find(|candidate| {
                let words: Vec<&str> = unknown_lower.split('_').filter(|w| !w.is_empty()).collect();
                words.len() > 1
                    && words
                        .iter()
                        .all(|word| candidate.split('_').any(|part| part == *word))
            })
        })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}
