//! Durable records on redb (runtime.md §7): one database per node,
//! `checkpoints.redb` in its data directory, opened on first need. A record
//! is a durable actor's class, generation, state fields and per-sender marks,
//! serialised with rmp-serde behind a CRC-32; the previous good record is kept
//! beside the newest. All redb work runs on the store's own thread (never on a
//! worker) inside `contain`, so a damaged file is an error, not a crash.

use crate::contain::{contain, lock};
use crate::vm::portable::Packet;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

/// The newest record of each durable actor, by name.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// The record before it, used when the newest is damaged.
const PREVIOUS: TableDefinition<&str, &[u8]> = TableDefinition::new("previous");

/// The file name inside the data directory.
pub const FILE: &str = "checkpoints.redb";

/// What is kept of one durable actor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The actor's class name (a record of another class is refused).
    pub class: String,
    /// Bumped at every restore.
    pub generation: u64,
    /// The `state` fields by name (schema evolution matches them by name).
    pub fields: Vec<(String, Packet)>,
    /// Per sender: the highest sequence number whose turn is in this state.
    pub marks: Vec<(String, u64)>,
    /// Seconds since the epoch when it was committed.
    pub committed_at: f64,
    /// The run that committed it: marks of senders from other runs are
    /// dropped at restore (senders are identified per run).
    #[serde(default)]
    pub run: String,
    /// A hash of the program the actor's class came from (`noodle state`
    /// shows it; a differing one means the code changed since).
    #[serde(default)]
    pub module: String,
    /// The id of the actor that committed it: its marks count only for that
    /// same actor restored (a new spawn numbers its messages afresh).
    #[serde(default)]
    pub actor: String,
    /// The replies of the latest asks applied, per sender (sender, sequence
    /// number, value): an ask redelivered after a failover gets its
    /// original reply rather than being applied twice.
    #[serde(default)]
    pub replies: Vec<(String, u64, Packet)>,
}

impl Record {
    /// Its size on disk, in bytes.
    pub fn size(&self) -> usize {
        encode(self).map_or(0, |b| b.len())
    }
}

/// A record read back, and a warning when the newest was damaged and the
/// previous one is returned instead.
pub struct Loaded {
    pub record: Option<Record>,
    pub warning: Option<String>,
}

type Reply<T> = mpsc::Sender<Result<T, String>>;

/// Called on the store's thread once a commit is durable (or failed).
pub type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

enum Job {
    Load(String, Reply<Loaded>),
    /// One write transaction (one fsync) for the whole batch.
    Save(Vec<(String, Record)>, Reply<()>),
    /// A commit whose caller does not wait on a thread: consecutive ones
    /// share one write transaction (group commit).
    Commit(Vec<(String, Record)>, Done),
    Remove(String, Reply<bool>),
    List(Reply<Vec<(String, Record)>>),
    /// Close the database cleanly (the next open needs no repair).
    Close(Reply<()>),
}

/// A node's record store: a handle on its two threads — the writer (one
/// write transaction at a time, commits grouped) and the reader, so that
/// restoring actors never waits behind an fsync.
pub struct Store {
    pub path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    reads: Mutex<mpsc::Sender<Job>>,
    /// Held while the store is open: one process per data directory, so a
    /// durable actor never runs in two at once.
    _lock: std::fs::File,
}

impl Store {
    /// Open (creating `dir` and the file if needed) the store in `dir`. A
    /// store another process holds open is an error naming the path.
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let lock_path = dir.join("lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!("data directory {} is in use by another noodle process", dir.display()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", lock_path.display())),
        }
        let path = dir.join(FILE);
        let db = match contain(|| redb::Database::create(&path)) {
            Ok(Ok(db)) => db,
            Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(format!("{} is in use by another noodle process", path.display()));
            }
            Ok(Err(e)) => return Err(format!("cannot open {}: {e}", path.display())),
            Err(panic) => return Err(format!("cannot open {}: {panic}", path.display())),
        };
        let shared = std::sync::Arc::new(Shared { db, broken: Mutex::new(None) });
        let (tx, rx) = mpsc::channel();
        let (rtx, rrx) = mpsc::channel();
        let s2 = shared.clone();
        std::thread::Builder::new()
            .name("noodle-store".into())
            .spawn(move || owner(shared, rx))
            .map_err(|e| format!("cannot start the store thread: {e}"))?;
        std::thread::Builder::new()
            .name("noodle-store-reads".into())
            .spawn(move || owner(s2, rrx))
            .map_err(|e| format!("cannot start the store thread: {e}"))?;
        Ok(Store { path, jobs: Mutex::new(tx), reads: Mutex::new(rtx), _lock: lock_file })
    }

    /// Open the store in `dir` only if it exists: a reader that creates
    /// nothing (`noodle state`).
    pub fn open_existing(dir: &Path) -> Result<Store, String> {
        if !dir.is_dir() {
            return Err(format!("no data directory {}", dir.display()));
        }
        if !dir.join(FILE).is_file() {
            return Err(format!("no durable records in {} (it has no {FILE})", dir.display()));
        }
        Store::open(dir)
    }

    fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, String> {
        self.ask_on(&self.jobs, job)
    }

    fn ask_on<T>(&self, thread: &Mutex<mpsc::Sender<Job>>, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        lock(thread).send(job(tx)).map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> String {
        format!("the store {} stopped", self.path.display())
    }

    /// The newest good record of `name`.
    pub fn load(&self, name: &str) -> Result<Loaded, String> {
        self.ask_on(&self.reads, |r| Job::Load(name.to_string(), r))
    }

    /// Commit records (the previous one of each is kept).
    pub fn save(&self, batch: Vec<(String, Record)>) -> Result<(), String> {
        self.ask(|r| Job::Save(batch, r))
    }

    /// Commit records without blocking: `done` runs once they are durable.
    /// Commits queued while a transaction is being written go together into
    /// the next one, so one fsync carries many actors' turns.
    pub fn submit(&self, batch: Vec<(String, Record)>, done: Done) {
        if let Err(mpsc::SendError(Job::Commit(_, done))) = lock(&self.jobs).send(Job::Commit(batch, done)) {
            done(Err(self.stopped()));
        }
    }

    /// Delete both records of `name`; `false` if there were none.
    pub fn remove(&self, name: &str) -> Result<bool, String> {
        self.ask(|r| Job::Remove(name.to_string(), r))
    }

    /// Close the file cleanly; later requests fail.
    pub fn close(&self) {
        let _ = self.ask_on(&self.reads, Job::Close);
        let _ = self.ask(Job::Close);
    }

    /// Every name with its newest good record.
    pub fn list(&self) -> Result<Vec<(String, Record)>, String> {
        self.ask(Job::List)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// A node's durable records: on disk, or in memory (`--ephemeral`).
pub enum Records {
    Disk(Store),
    Memory(Mutex<rustc_hash::FxHashMap<String, Record>>),
}

impl Records {
    pub fn load(&self, name: &str) -> Result<Loaded, String> {
        match self {
            Records::Disk(s) => s.load(name),
            Records::Memory(m) => Ok(Loaded { record: lock(m).get(name).cloned(), warning: None }),
        }
    }

    pub fn save(&self, batch: Vec<(String, Record)>) -> Result<(), String> {
        match self {
            Records::Disk(s) => s.save(batch),
            Records::Memory(m) => {
                lock(m).extend(batch);
                Ok(())
            }
        }
    }

    /// Every record, by name.
    pub fn list(&self) -> Result<Vec<(String, Record)>, String> {
        match self {
            Records::Disk(s) => s.list(),
            Records::Memory(m) => Ok(lock(m).iter().map(|(n, r)| (n.clone(), r.clone())).collect()),
        }
    }

    pub fn remove(&self, name: &str) -> Result<bool, String> {
        match self {
            Records::Disk(s) => s.remove(name),
            Records::Memory(m) => Ok(lock(m).remove(name).is_some()),
        }
    }

    pub fn close(&self) {
        if let Records::Disk(s) = self {
            s.close();
        }
    }
}

/// What the store's two threads share. After a contained panic the file
/// is not trusted again.
struct Shared {
    db: redb::Database,
    broken: Mutex<Option<String>>,
}

impl Shared {
    fn serve<T>(&self, work: impl FnOnce(&redb::Database) -> Result<T, String>) -> Result<T, String> {
        if let Some(why) = lock(&self.broken).clone() {
            return Err(format!("the store is unusable after an earlier failure: {why}"));
        }
        match contain(|| work(&self.db)) {
            Ok(r) => r,
            Err(panic) => {
                *lock(&self.broken) = Some(panic.clone());
                Err(format!("the store failed: {panic}"))
            }
        }
    }
}

/// A store thread: serves its jobs in order until closed. Commits queued
/// while a transaction is written join the next one.
fn owner(shared: std::sync::Arc<Shared>, jobs: mpsc::Receiver<Job>) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| jobs.recv().ok()) {
        match job {
            Job::Load(name, reply) => drop(reply.send(shared.serve(|db| load(db, &name)))),
            Job::Save(batch, reply) => drop(reply.send(shared.serve(|db| save(db, batch)))),
            Job::Remove(name, reply) => drop(reply.send(shared.serve(|db| remove(db, &name)))),
            Job::List(reply) => drop(reply.send(shared.serve(list))),
            Job::Close(reply) => {
                // The last thread to let go of the database closes it.
                drop(shared);
                let _ = reply.send(Ok(()));
                return;
            }
            Job::Commit(mut batch, done) => {
                let mut dones = vec![done];
                while let Ok(job) = jobs.try_recv() {
                    match job {
                        Job::Commit(more, d) => {
                            batch.extend(more);
                            dones.push(d);
                        }
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                let r = shared.serve(|db| save(db, batch));
                for d in dones {
                    d(r.clone());
                }
            }
        }
    }
}

fn encode(r: &Record) -> Result<Vec<u8>, String> {
    let body = rmp_serde::to_vec(r).map_err(|e| e.to_string())?;
    let mut out = crc32fast::hash(&body).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// A record whose checksum holds, or why not.
fn decode(bytes: &[u8]) -> Result<Record, String> {
    let (sum, body) = bytes.split_at_checked(4).ok_or("the record is truncated")?;
    if crc32fast::hash(body).to_le_bytes() != sum {
        return Err("its checksum does not match".into());
    }
    rmp_serde::from_slice(body).map_err(|e| format!("it cannot be read: {e}"))
}

fn get(db: &redb::Database, table: TableDefinition<&str, &[u8]>, name: &str) -> Result<Option<Vec<u8>>, String> {
    let r = db.begin_read().map_err(|e| e.to_string())?;
    let t = match r.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    Ok(t.get(name).map_err(|e| e.to_string())?.map(|v| v.value().to_vec()))
}

fn load(db: &redb::Database, name: &str) -> Result<Loaded, String> {
    let Some(newest) = get(db, RECORDS, name)? else { return Ok(Loaded { record: None, warning: None }) };
    let why = match decode(&newest) {
        Ok(r) => return Ok(Loaded { record: Some(r), warning: None }),
        Err(why) => why,
    };
    match get(db, PREVIOUS, name)?.map(|b| decode(&b)) {
        Some(Ok(r)) => Ok(Loaded {
            record: Some(r),
            warning: Some(format!("the newest record of `{name}` is damaged ({why}); using the previous one")),
        }),
        Some(Err(why2)) => Err(format!("both records of `{name}` are damaged ({why}; {why2})")),
        None => Err(format!("the record of `{name}` is damaged ({why}) and there is no previous one")),
    }
}

fn save(db: &redb::Database, batch: Vec<(String, Record)>) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut records = txn.open_table(RECORDS).map_err(|e| e.to_string())?;
        let mut previous = txn.open_table(PREVIOUS).map_err(|e| e.to_string())?;
        for (name, rec) in &batch {
            let bytes = encode(rec)?;
            let old = records.insert(name.as_str(), bytes.as_slice()).map_err(|e| e.to_string())?.map(|v| v.value().to_vec());
            // Only a good record is worth falling back to.
            if let Some(old) = old.filter(|o| decode(o).is_ok()) {
                previous.insert(name.as_str(), old.as_slice()).map_err(|e| e.to_string())?;
            }
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

fn remove(db: &redb::Database, name: &str) -> Result<bool, String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    let found = {
        let mut records = txn.open_table(RECORDS).map_err(|e| e.to_string())?;
        let mut previous = txn.open_table(PREVIOUS).map_err(|e| e.to_string())?;
        let a = records.remove(name).map_err(|e| e.to_string())?.is_some();
        let b = previous.remove(name).map_err(|e| e.to_string())?.is_some();
        a || b
    };
    txn.commit().map_err(|e| e.to_string())?;
    Ok(found)
}

fn list(db: &redb::Database) -> Result<Vec<(String, Record)>, String> {
    let r = db.begin_read().map_err(|e| e.to_string())?;
    let t = match r.open_table(RECORDS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let mut names = Vec::new();
    for entry in t.iter().map_err(|e| e.to_string())? {
        let (k, _) = entry.map_err(|e| e.to_string())?;
        names.push(k.value().to_string());
    }
    drop(t);
    drop(r);
    let mut out = Vec::new();
    for n in names {
        if let Some(rec) = load(db, &n)?.record {
            out.push((n, rec));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("noodle-durable-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn rec(class: &str, generation: u64, n: i64) -> Record {
        Record {
            class: class.into(),
            generation,
            fields: vec![("n".into(), crate::vm::portable::to_portable(&crate::vm::Value::Int(n)).expect("portable"))],
            marks: vec![("main".into(), 3)],
            committed_at: 1.0,
            run: "r".into(),
            module: "m".into(),
            actor: "a".into(),
            replies: Vec::new(),
        }
    }

    #[test]
    fn records_survive_reopening_and_keep_the_previous() {
        let d = dir("reopen");
        let s = Store::open(&d).expect("open");
        assert!(s.load("a").expect("load").record.is_none());
        s.save(vec![("a".into(), rec("A", 1, 1)), ("b".into(), rec("B", 1, 2))]).expect("save");
        s.save(vec![("a".into(), rec("A", 2, 5))]).expect("save");
        drop(s);
        // The owner thread ends when the handle goes; wait for the file lock.
        let mut reopened = None;
        for _ in 0..200 {
            match Store::open(&d) {
                Ok(s) => {
                    reopened = Some(s);
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        let s = reopened.expect("reopen");
        assert_eq!(s.load("a").expect("load").record, Some(rec("A", 2, 5)));
        let names: Vec<String> = s.list().expect("list").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(s.remove("b").expect("remove"));
        assert!(!s.remove("b").expect("remove"));
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_record_falls_back_to_the_previous_one() {
        let d = dir("damage");
        std::fs::create_dir_all(&d).expect("dir");
        let db = redb::Database::create(d.join(FILE)).expect("create");
        save(&db, vec![("a".into(), rec("A", 1, 1))]).expect("save");
        save(&db, vec![("a".into(), rec("A", 2, 2))]).expect("save");
        // Flip a byte of the newest record's body.
        let mut bytes = get(&db, RECORDS, "a").expect("get").expect("present");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let txn = db.begin_write().expect("txn");
        txn.open_table(RECORDS).expect("table").insert("a", bytes.as_slice()).expect("insert");
        txn.commit().expect("commit");
        let l = load(&db, "a").expect("load");
        assert_eq!(l.record, Some(rec("A", 1, 1)));
        assert!(l.warning.expect("warning").contains("damaged"));
        // Both damaged: an error, not a panic.
        let txn = db.begin_write().expect("txn");
        txn.open_table(PREVIOUS).expect("table").insert("a", &b"xx"[..]).expect("insert");
        txn.commit().expect("commit");
        assert!(load(&db, "a").is_err_and(|e| e.contains("both records")));
        drop(db);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_store_in_use_is_a_clear_error() {
        let d = dir("busy");
        let s = Store::open(&d).expect("open");
        let e = Store::open(&d).err().expect("second open fails");
        assert!(e.contains("in use"), "{e}");
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
