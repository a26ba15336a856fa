//! f-string format specs (language.md §1): the grammar both the compiler (a literal
//! spec that is malformed is a compile error) and the VM (specs built from nested
//! fields at run time) read, defined once here.
//!
//! `[[fill]<|>|^][sign][#][0][width][,|_][.precision][type]`

/// A parsed format spec.
#[derive(Clone, Debug, PartialEq)]
pub struct FormatSpec {
    pub fill: char,
    pub align: Option<char>,
    /// `-` (the default: a sign only for negatives), `+` or ` `.
    pub sign: char,
    /// `#`: a `0x`/`0o`/`0b` prefix for `x X o b`.
    pub alt: bool,
    /// `0` before the width: numbers pad with zeros after the sign.
    pub zero: bool,
    pub width: usize,
    /// `,` or `_` between groups of digits.
    pub grouping: Option<char>,
    pub precision: Option<usize>,
    pub ty: Option<char>,
}

/// The largest width and precision a spec may ask for (a spec is data a program
/// may build at run time; it must not allocate gigabytes).
pub const MAX_WIDTH: usize = 10_000;
pub const MAX_PRECISION: usize = 1_000;

const TYPES: &str = "dfFeEgGxXob%s";

impl FormatSpec {
    pub fn parse(spec: &str) -> Result<FormatSpec, String> {
        let chars: Vec<char> = spec.chars().collect();
        let mut i = 0;
        let mut s =
            FormatSpec { fill: ' ', align: None, sign: '-', alt: false, zero: false, width: 0, grouping: None, precision: None, ty: None };
        if chars.len() >= 2 && matches!(chars[1], '<' | '>' | '^') {
            s.fill = chars[0];
            s.align = Some(chars[1]);
            i = 2;
        } else if !chars.is_empty() && matches!(chars[0], '<' | '>' | '^') {
            s.align = Some(chars[0]);
            i = 1;
        }
        if let Some(&c @ ('+' | '-' | ' ')) = chars.get(i) {
            s.sign = c;
            i += 1;
        }
        if chars.get(i) == Some(&'#') {
            s.alt = true;
            i += 1;
        }
        if s.align.is_none() && chars.get(i) == Some(&'0') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            s.zero = true;
            i += 1;
        }
        let (width, next) = number(&chars, i, "width")?;
        s.width = width.unwrap_or(0);
        i = next;
        if let Some(&c @ (',' | '_')) = chars.get(i) {
            s.grouping = Some(c);
            i += 1;
        }
        if chars.get(i) == Some(&'.') {
            let (p, next) = number(&chars, i + 1, "precision")?;
            if p.is_none() {
                return Err(format!("format spec `{spec}`: `.` needs a precision after it"));
            }
            s.precision = p;
            i = next;
        }
        if let Some(&c) = chars.get(i) {
            if TYPES.contains(c) {
                s.ty = Some(c);
                i += 1;
            }
        }
        if i != chars.len() {
            let hint = match chars[i] {
                c if c.is_alphabetic() => format!("`{c}` is not a format type (one of d f F e E g G x X o b % s)"),
                c => format!("unexpected `{c}`"),
            };
            return Err(format!("invalid format spec `{spec}`: {hint}"));
        }
        if s.width > MAX_WIDTH || s.precision.unwrap_or(0) > MAX_PRECISION {
            return Err(format!("format spec `{spec}` is too large (width at most {MAX_WIDTH}, precision at most {MAX_PRECISION})"));
        }
        s.check_combination(spec)?;
        Ok(s)
    }

    /// Combinations Python rejects whatever the value is.
    fn check_combination(&self, spec: &str) -> Result<(), String> {
        match self.ty {
            Some(t @ ('x' | 'X' | 'o' | 'b')) if self.grouping == Some(',') => {
                Err(format!("format spec `{spec}`: `,` cannot group `{t}` digits (use `_`)"))
            }
            Some(t @ ('d' | 'x' | 'X' | 'o' | 'b')) if self.precision.is_some() => {
                Err(format!("format spec `{spec}`: a precision cannot be used with `{t}` (integers have no decimals)"))
            }
            Some('s') if self.sign != '-' || self.grouping.is_some() => {
                Err(format!("format spec `{spec}`: a sign or grouping needs a number, not `s`"))
            }
            _ => Ok(()),
        }
    }
}

/// Read a run of decimal digits starting at `i`.
fn number(chars: &[char], mut i: usize, what: &str) -> Result<(Option<usize>, usize), String> {
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return Ok((None, i));
    }
    let text: String = chars[start..i].iter().collect();
    match text.parse::<usize>() {
        Ok(n) => Ok((Some(n), i)),
        Err(_) => Err(format!("format {what} `{text}` is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::FormatSpec;

    #[test]
    fn full_grammar_parses_in_order() {
        let s = FormatSpec::parse("*^+#012_.3f").unwrap();
        assert_eq!((s.fill, s.align, s.sign, s.alt), ('*', Some('^'), '+', true));
        assert_eq!((s.zero, s.width, s.grouping, s.precision, s.ty), (false, 12, Some('_'), Some(3), Some('f')));
        let z = FormatSpec::parse("08,").unwrap();
        assert!(z.zero && z.width == 8 && z.grouping == Some(','));
        assert_eq!(FormatSpec::parse("").unwrap().ty, None);
    }

    #[test]
    fn malformed_specs_say_why() {
        for bad in [".f", "10q", ",x", ".2d", "+s", "99999999999999999999999", "100000", "5.", ">>>"] {
            let e = FormatSpec::parse(bad).unwrap_err();
            assert!(e.contains("format"), "{bad}: {e}");
        }
    }
}
