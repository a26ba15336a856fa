//! The compile driver: loads a program and its imports (each module once, by
//! canonical path; cycles are errors), runs sema and codegen per module, and
//! bundles everything into one `Program`.

use crate::bytecode::{Module, Program, SourceText, NATIVE_MODULES};
use crate::codegen::{compile_module, ImportTarget, ProgramBuilder};
use crate::diag::{Diagnostic, SourceMap, Span};
use crate::parser::ast::{ImportPath, StmtKind};
use crate::parser::parse_program;
use crate::sema::{analyze, ModuleScope};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Library modules written in Noodle, embedded in the binary.
pub const STDLIB: &[(&str, &str)] = &[("stats", include_str!("../stdlib/stats.nd"))];

pub struct Compiled {
    pub program: Program,
    pub sources: SourceMap,
}

pub struct Failed {
    pub diags: Vec<Diagnostic>,
    pub sources: SourceMap,
}

#[derive(Default)]
pub struct Loader {
    pub pb: ProgramBuilder,
    pub sources: SourceMap,
    diags: Vec<Diagnostic>,
    /// Canonical path → module index.
    by_path: HashMap<String, u32>,
    /// Modules being loaded (for cycle detection), with display names.
    loading: Vec<(String, String)>,
    next_id: u32,
}

/// Compile the program whose entry file is `path` with source `text`.
pub fn compile_file(path: &Path, text: String) -> Result<Compiled, Failed> {
    let mut l = Loader {
        pb: ProgramBuilder::default(),
        sources: SourceMap::default(),
        diags: vec![],
        by_path: HashMap::new(),
        loading: vec![],
        next_id: 0,
    };
    let key = canonical(path);
    let entry = l.load(&key, &path.display().to_string(), text, path.parent().map(Path::to_path_buf));
    if !l.diags.is_empty() {
        return Err(Failed { diags: l.diags, sources: l.sources });
    }
    l.pb.program.entry = entry;
    Ok(Compiled { program: l.pb.program, sources: l.sources })
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

impl Loader {
    fn load(&mut self, key: &str, display: &str, text: String, dir: Option<PathBuf>) -> u32 {
        let file = self.sources.add(display, text.clone());
        self.pb.program.files.push(SourceText { name: display.to_string(), text: text.clone() });
        let parsed = parse_program(&text, file, self.next_id);
        self.next_id = parsed.next_id;
        self.diags.extend(parsed.diags);
        let idx = self.pb.program.modules.len() as u32;
        let name = Path::new(display).file_stem().and_then(|s| s.to_str()).unwrap_or(display).to_string();
        self.pb.program.modules.push(Module { name, file, globals: vec![], main: 0, mutable: vec![] });
        self.by_path.insert(key.to_string(), idx);
        self.loading.push((key.to_string(), display.to_string()));

        let mut imports = HashMap::new();
        for s in &parsed.stmts {
            if let StmtKind::Import { path, path_span, .. } = &s.kind {
                if let Some(t) = self.resolve_import(path, *path_span, dir.as_deref()) {
                    imports.insert(path_span.start, t);
                }
            }
        }
        self.loading.pop();

        let mut scope = ModuleScope::default();
        let (an, diags) = analyze(&parsed.stmts, &mut scope);
        self.diags.extend(diags);
        self.pb.program.modules[idx as usize].globals = scope.slot_names();
        self.pb.program.modules[idx as usize].mutable = scope.slot_mutability();
        if self.diags.is_empty() {
            match compile_module(&mut self.pb, &parsed.stmts, &an, idx, &imports, false, file) {
                Ok(main) => self.pb.program.modules[idx as usize].main = main,
                Err(d) => self.diags.extend(d),
            }
        }
        idx
    }

    fn resolve_import(&mut self, path: &ImportPath, span: Span, dir: Option<&Path>) -> Option<ImportTarget> {
        let here = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let (candidate, embedded) = match path {
            ImportPath::Name(n) => {
                let beside = here.join(format!("{n}.nd"));
                if beside.is_file() {
                    (beside, None)
                } else if NATIVE_MODULES.contains(&n.as_str()) {
                    return Some(ImportTarget::Native(n.clone()));
                } else if let Some((_, src)) = STDLIB.iter().find(|(name, _)| name == n) {
                    (PathBuf::from(format!("<stdlib>/{n}.nd")), Some(src.to_string()))
                } else {
                    self.diags.push(
                        Diagnostic::new(
                            "E0401",
                            format!("no module named `{n}`"),
                            span,
                            format!("looked for `{}` and the standard library", beside.display()),
                        )
                        .note(format!(
                            "library modules: {}, {}",
                            NATIVE_MODULES.join(", "),
                            STDLIB.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
                        )),
                    );
                    return None;
                }
            }
            ImportPath::File(f) => (here.join(f), None),
        };
        let key = if embedded.is_some() { candidate.display().to_string() } else { canonical(&candidate) };
        if let Some(pos) = self.loading.iter().position(|(k, _)| *k == key) {
            let mut cycle: Vec<String> = self.loading[pos..].iter().map(|(_, d)| d.clone()).collect();
            cycle.push(self.loading[pos].1.clone());
            self.diags.push(Diagnostic::new("E0402", "import cycle", span, format!("this import closes the cycle {}", cycle.join(" → "))));
            return None;
        }
        if let Some(idx) = self.by_path.get(&key) {
            return Some(ImportTarget::Module(*idx));
        }
        let display = if embedded.is_some() { key.clone() } else { candidate.display().to_string() };
        let text = match embedded {
            Some(t) => t,
            None => match std::fs::read_to_string(&candidate) {
                Ok(t) => t,
                Err(e) => {
                    self.diags.push(Diagnostic::new("E0403", format!("cannot read module `{}`", candidate.display()), span, e.to_string()));
                    return None;
                }
            },
        };
        let sub_dir = candidate.parent().map(Path::to_path_buf);
        Some(ImportTarget::Module(self.load(&key, &display, text, sub_dir)))
    }
}

impl Loader {
    /// Compile one REPL input into the session module (index 0), whose globals
    /// persist in `scope`. Returns the index of the input's main function.
    pub fn load_repl(&mut self, name: &str, text: &str, scope: &mut ModuleScope) -> Result<u32, Vec<Diagnostic>> {
        self.diags.clear();
        let file = self.sources.add(name, text.to_string());
        self.pb.program.files.push(SourceText { name: name.to_string(), text: text.to_string() });
        if self.pb.program.modules.is_empty() {
            self.pb.program.modules.push(Module { name: "repl".into(), file, globals: vec![], main: 0, mutable: vec![] });
        }
        let parsed = parse_program(text, file, self.next_id);
        self.next_id = parsed.next_id;
        if !parsed.diags.is_empty() {
            return Err(parsed.diags);
        }
        let mut imports = HashMap::new();
        for s in &parsed.stmts {
            if let StmtKind::Import { path, path_span, .. } = &s.kind {
                if let Some(t) = self.resolve_import(path, *path_span, None) {
                    imports.insert(path_span.start, t);
                }
            }
        }
        let (an, diags) = analyze(&parsed.stmts, scope);
        self.pb.program.modules[0].globals = scope.slot_names();
        self.pb.program.modules[0].mutable = scope.slot_mutability();
        self.diags.extend(diags);
        if !self.diags.is_empty() {
            return Err(std::mem::take(&mut self.diags));
        }
        compile_module(&mut self.pb, &parsed.stmts, &an, 0, &imports, true, file)
    }
}
