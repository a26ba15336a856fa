//! Diagnostics are plain data (Gleam style): collected by every stage, rendered
//! with ariadne only at the edge (CLI, REPL, golden tests).

/// A byte range in one source file. `file` indexes the `SourceMap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: u32, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Short stable code such as `E0101`, shown in brackets.
    pub code: &'static str,
    pub title: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, title: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic { code, title: title.into(), labels: vec![Label { span, message: label.into() }], notes: vec![] }
    }
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.notes.push(n.into());
        self
    }
    pub fn primary_span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }
}

/// All source files of one compilation (the program and its imports).
#[derive(Default, Clone, Debug)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

/// How many diagnostics one compile shows (rustc-like: the rest are counted).
pub const MAX_REPORTED: usize = 100;

#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { name, text, line_starts }
    }
    /// 1-based line and column (column counts characters).
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let off = (offset as usize).min(self.text.len());
        let line = match self.line_starts.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text.get(start..off).map(|s| s.chars().count()).unwrap_or(off - start);
        (line + 1, col + 1)
    }
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> u32 {
        self.files.push(SourceFile::new(name.into(), text.into()));
        (self.files.len() - 1) as u32
    }
    pub fn get(&self, file: u32) -> Option<&SourceFile> {
        self.files.get(file as usize)
    }
    /// `file:line:col` for a span start.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let (l, c) = f.line_col(span.start);
                format!("{}:{}:{}", f.name, l, c)
            }
            None => "<unknown>".to_string(),
        }
    }

    /// Render diagnostics with ariadne. `color` only when writing to a terminal.
    /// At most `MAX_REPORTED` are shown (then a count of the rest), and each
    /// costs about the length of the lines it shows: the sources are indexed
    /// once and spans are byte offsets.
    pub fn render(&self, diags: &[Diagnostic], color: bool) -> String {
        use ariadne::{Config, Label as ALabel, Report, ReportKind};
        let mut out = Vec::new();
        let mut cache = ariadne::sources(self.files.iter().map(|f| (f.name.clone(), f.text.clone())));
        for d in diags.iter().take(MAX_REPORTED) {
            let span = d.primary_span();
            let Some(file) = self.get(span.file) else {
                out.extend_from_slice(format!("error[{}]: {}\n", d.code, d.title).as_bytes());
                continue;
            };
            let name = file.name.clone();
            let (line, col) = file.line_col(span.start);
            let byte_range = |s: Span| {
                let len = self.get(s.file).unwrap_or(file).text.len();
                let a = (s.start as usize).min(len);
                a..(s.end as usize).clamp(a, len)
            };
            let mut report = Report::build(ReportKind::Error, (name.clone(), byte_range(span)))
                .with_code(d.code)
                .with_message(format!("{} ({}:{}:{})", d.title, name, line, col))
                .with_config(Config::default().with_color(color).with_index_type(ariadne::IndexType::Byte));
            // ariadne groups labels of one file only while their lines ascend.
            let mut labels: Vec<&Label> = d.labels.iter().collect();
            labels.sort_by_key(|l| (l.span.file, l.span.start));
            for l in labels {
                let lf = self.get(l.span.file).map(|f| f.name.clone()).unwrap_or(name.clone());
                let mut label = ALabel::new((lf, byte_range(l.span))).with_message(&l.message);
                if color {
                    label = label.with_color(ariadne::Color::Red);
                }
                report = report.with_label(label);
            }
            for n in &d.notes {
                report = report.with_note(n);
            }
            let _ = report.finish().write(&mut cache, &mut out);
        }
        if diags.len() > MAX_REPORTED {
            let more = diags.len() - MAX_REPORTED;
            let s = if more == 1 { "" } else { "s" };
            out.extend_from_slice(format!("... and {more} more error{s} (the first {MAX_REPORTED} are shown)\n").as_bytes());
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
