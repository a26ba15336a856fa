//! `noodle state ls | show NAME | rm NAME [--data DIR]`: durable actors'
//! records (runtime.md §7, §9). Reads the store in place and never creates a
//! file: a missing directory or name is an error (exit 1), a store that
//! cannot be read or is in use an IOError (exit 3).

use noodle::runtime::durable::{Record, Store};
use noodle::vm::Vm;
use std::path::Path;
use std::process::ExitCode;

pub enum Action {
    List,
    Show(String),
    Remove(String),
}

pub fn run(action: Action, data: &Path) -> ExitCode {
    let store = match Store::open_existing(data) {
        Ok(s) => s,
        Err(e) => return fail(&e, e.contains("in use") || e.contains("cannot")),
    };
    let r = match action {
        Action::List => list(&store),
        Action::Show(name) => match show(&store, &name) {
            Ok(true) => Ok(()),
            Ok(false) => return fail(&format!("no durable actor named `{name}` in {}", data.display()), false),
            Err(e) => Err(e),
        },
        Action::Remove(name) => match store.remove(&name) {
            Ok(true) => Ok(()),
            Ok(false) => return fail(&format!("no durable actor named `{name}` in {}", data.display()), false),
            Err(e) => Err(e),
        },
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, true),
    }
}

/// Report `e`; store failures exit 3, things not found 1.
fn fail(e: &str, io: bool) -> ExitCode {
    if io {
        noodle::ewriteln!("IOError: {e}");
        ExitCode::from(3)
    } else {
        noodle::ewriteln!("error: {e}");
        ExitCode::from(1)
    }
}

fn list(store: &Store) -> Result<(), String> {
    let records = store.list()?;
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|(n, r)| [n.clone(), r.class.clone(), r.generation.to_string(), r.size().to_string(), utc(r.committed_at)])
        .collect();
    let head = ["NAME", "CLASS", "GENERATION", "BYTES", "COMMITTED (UTC)"].map(String::from);
    let mut width = [0usize; 5];
    for row in std::iter::once(&head).chain(&rows) {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let line: Vec<String> = row.iter().zip(width).map(|(c, w)| format!("{c:<w$}")).collect();
        noodle::owriteln!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

/// `false`: there is no such record.
fn show(store: &Store, name: &str) -> Result<bool, String> {
    let loaded = store.load(name)?;
    if let Some(w) = loaded.warning {
        noodle::ewriteln!("warning: {w}");
    }
    let Some(rec) = loaded.record else { return Ok(false) };
    print_record(name, &rec);
    Ok(true)
}

fn print_record(name: &str, rec: &Record) {
    noodle::owriteln!("{name}: {} (generation {}, committed {})", rec.class, rec.generation, utc(rec.committed_at));
    let vm = Vm::new();
    for (field, p) in &rec.fields {
        let shown = match vm.from_portable(p) {
            Ok(v) => {
                let mut out = String::new();
                noodle::vm::format::repr(&v, &mut out, &mut Default::default());
                out
            }
            Err(e) => format!("<unreadable: {}>", Vm::describe_error(&e).trim_end()),
        };
        noodle::owriteln!("  {field} = {shown}");
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil from days).
fn utc(secs: f64) -> String {
    let s = secs.max(0.0) as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_796_083_199.0), "2026-11-30T23:59:59Z");
    }
}
