//! "Did you mean ...?": the closest known spelling of a misspelt name, and
//! the Noodle spelling of words borrowed from other languages.

/// Words other languages use where Noodle has its own.
const BORROWED: &[(&str, &str)] = &[
    ("None", "none"),
    ("null", "none"),
    ("nil", "none"),
    ("undefined", "none"),
    ("True", "true"),
    ("False", "false"),
    ("this", "self"),
    ("elif", "else if"),
    ("elsif", "else if"),
    ("function", "def"),
    ("func", "def"),
    ("fn", "def"),
    ("fun", "def"),
    ("lambda", "|x| ..."),
    ("switch", "match"),
    ("case", "match"),
    ("raise", "throw"),
    ("except", "catch"),
    ("import_module", "import"),
    ("println", "print"),
    ("console", "print"),
    ("startswith", "starts_with"),
    ("endswith", "ends_with"),
    ("length", "len"),
    ("size", "len"),
    ("push", "append"),
    ("toUpperCase", "upper"),
    ("toLowerCase", "lower"),
    ("trim", "strip"),
    ("includes", "contains"),
    ("has", "contains"),
    ("isdigit", "is_digit"),
    ("isalpha", "is_alpha"),
    ("isspace", "is_space"),
    ("ljust", "pad_right"),
    ("rjust", "pad_left"),
    ("indexOf", "find"),
    ("tolist", "to_list"),
    ("concatenate", "vstack"),
];

/// The Noodle spelling of a word borrowed from another language.
pub fn borrowed(word: &str) -> Option<&'static str> {
    BORROWED.iter().find(|(w, _)| *w == word).map(|(_, n)| *n)
}

/// The candidate closest to `word` by edit distance, if close enough to be
/// a likely typo (one edit in short words, up to a third of longer ones).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == word || c.starts_with('$') {
            continue;
        }
        let d = distance(&word.to_lowercase(), &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" for a word: its Noodle spelling, else the closest candidate.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    match borrowed(word) {
        Some(n) => Some(format!("did you mean `{n}`?")),
        None => closest(word, candidates).map(|c| format!("did you mean `{c}`?")),
    }
}

/// Levenshtein distance, with a transposition as one edit.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_and_borrowed_words() {
        assert_eq!(closest("prnit", ["print", "input"]), Some("print"));
        assert_eq!(closest("lenght", ["len", "length2", "height"]), Some("length2"));
        assert_eq!(closest("x", ["y", "xy"]), Some("y"));
        assert_eq!(closest("banana", ["print"]), None);
        assert_eq!(hint("None", ["none"]).as_deref(), Some("did you mean `none`?"));
        assert_eq!(distance("ab", "ba"), 1);
    }
}
