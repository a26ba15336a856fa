//! The `db` library module: async key-value tables in a redb file
//! (language.md §9). Each database file has one owner thread that holds the
//! `redb::Database` and does every read, write and commit, so no worker ever
//! touches the disk; calls send it a job and return a future of the answer.
//! `db.open(path)` returns the same handle for the same file (one owner).
//!
//! Keys are str or int, encoded so that byte order is key order: ints (a tag,
//! then big-endian with the sign bit flipped) sort before strs (a tag, then
//! the UTF-8 bytes), and a str prefix scan is a byte prefix scan. Values are
//! plain data (none, bool, numbers, str, list, map, matrix) stored as a
//! MessagePack-encoded `Packet`.
//!
//! Transactions: `await d.transaction(|tx| ...)` first waits (asynchronously)
//! until the owner thread has opened a write transaction for it — other jobs
//! and transactions queue meanwhile. Then the lambda runs on the worker;
//! `tx.get/put/delete/scan` are synchronous round trips to the owner thread
//! (a few microseconds: no disk sync happens before commit). When the lambda
//! returns, the transaction commits, on the owner thread, awaited
//! asynchronously; if it throws, everything is rolled back and the error is
//! rethrown at the `await`.

use crate::vm::args::{arity, kwarg};
use crate::vm::native::{LibraryModule, NativeObject};
use crate::vm::portable::{to_portable, Packet};
use crate::vm::task::FutureObj;
use crate::vm::value::*;
use crate::vm::Vm;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, LazyLock, Mutex};

type Kw<'a> = &'a [(Rc<str>, Value)];
type R = Result<Value, Value>;
type Reply = Result<Answer, String>;

/// A handle on one database file (shared by every `db.open` of its path).
pub struct DbHandle {
    pub path: String,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl std::fmt::Debug for DbHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<db {}>", self.path)
    }
}

enum Op {
    Put(String, Vec<u8>, Vec<u8>),
    Get(String, Vec<u8>),
    Delete(String, Vec<u8>),
    Scan(String, Vec<u8>),
}

enum Answer {
    None,
    Value(Option<Vec<u8>>),
    Bool(bool),
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
}

enum Job {
    /// One operation in a transaction of its own.
    Single(Op, async_channel::Sender<Reply>),
    /// Open a write transaction, say so on `ready`, then serve `ops` until
    /// the worker says commit (`true`) or roll back (`false`).
    Transaction { ready: async_channel::Sender<Reply>, ops: std::sync::mpsc::Receiver<TxMsg> },
}

enum TxMsg {
    Op(Op, std::sync::mpsc::Sender<Reply>),
    End(bool, async_channel::Sender<Reply>),
}

fn handles() -> &'static Mutex<HashMap<std::path::PathBuf, Arc<DbHandle>>> {
    static H: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<DbHandle>>>> = LazyLock::new(Default::default);
    &H
}

/// Open (or find) the handle for `path`.
pub fn open_handle(path: &str) -> Result<Arc<DbHandle>, Value> {
    let p = std::path::Path::new(path);
    let key = match p.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::canonicalize(dir)
            .map_err(|e| Value::error("IOError", format!("cannot open database {path}: {e}")))?
            .join(p.file_name().unwrap_or_default()),
        None => std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()),
    };
    let mut map = crate::contain::lock(handles());
    if let Some(h) = map.get(&key) {
        return Ok(h.clone());
    }
    let db = match crate::contain::contain(|| redb::Database::create(&key)) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return err("IOError", format!("cannot open database {path}: {e}")),
        Err(panic) => return err("IOError", format!("cannot open database {path}: it is corrupted ({panic})")),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("noodle-db {path}"))
        .spawn(move || owner(db, rx))
        .map_err(|e| Value::error("IOError", format!("cannot start the database thread: {e}")))?;
    let h = Arc::new(DbHandle { path: path.to_string(), jobs: tx });
    map.insert(key, h.clone());
    Ok(h)
}

/// The owner thread of one database. Every redb call runs inside
/// `contain`: a file corrupted under it can make redb panic, and that must
/// be an `IOError` for the program, not a dead thread and a hung `await`.
/// After such a panic the database is not touched again.
fn owner(db: redb::Database, jobs: std::sync::mpsc::Receiver<Job>) {
    let mut broken: Option<String> = None;
    let guarded = |broken: &mut Option<String>, f: &mut dyn FnMut() -> Reply| -> Reply {
        if let Some(b) = broken {
            return Err(b.clone());
        }
        match crate::contain::contain(f) {
            Ok(r) => r,
            Err(panic) => {
                let msg = format!("the file is corrupted ({panic})");
                *broken = Some(msg.clone());
                Err(msg)
            }
        }
    };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Single(op, reply) => {
                let mut op = Some(op);
                let r = guarded(&mut broken, &mut || single(&db, op.take().ok_or("internal: operation used twice")?));
                let _ = reply.try_send(r);
            }
            Job::Transaction { ready, ops } => {
                let mut txn = None;
                let r = guarded(&mut broken, &mut || {
                    txn = Some(db.begin_write().map_err(|e| e.to_string())?);
                    Ok(Answer::None)
                });
                let ok = r.is_ok();
                let _ = ready.try_send(r);
                if !ok {
                    let _ = crate::contain::contain(move || drop(txn));
                    continue;
                }
                // Dropping an uncommitted transaction rolls it back.
                while let Ok(m) = ops.recv() {
                    match m {
                        TxMsg::Op(op, reply) => {
                            let mut op = Some(op);
                            let r = guarded(&mut broken, &mut || match &txn {
                                Some(t) => apply(t, op.take().ok_or("internal: operation used twice")?),
                                None => Err("internal: no transaction".into()),
                            });
                            let _ = reply.send(r);
                        }
                        TxMsg::End(commit, reply) => {
                            let t = txn.take();
                            let mut t = Some(t);
                            let r = guarded(&mut broken, &mut || match (t.take().flatten(), commit) {
                                (Some(t), true) => t.commit().map(|_| Answer::None).map_err(|e| e.to_string()),
                                (t, _) => {
                                    drop(t);
                                    Ok(Answer::None)
                                }
                            });
                            let _ = reply.try_send(r);
                            break;
                        }
                    }
                }
                let _ = crate::contain::contain(move || drop(txn));
            }
        }
    }
    let _ = crate::contain::contain(move || drop(db));
}

fn def(table: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(table)
}

fn single(db: &redb::Database, op: Op) -> Reply {
    match op {
        Op::Get(ref t, _) | Op::Scan(ref t, _) => {
            let r = db.begin_read().map_err(|e| e.to_string())?;
            let table = match r.open_table(def(t)) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    return Ok(if matches!(op, Op::Get(..)) { Answer::Value(None) } else { Answer::Pairs(vec![]) });
                }
                Err(e) => return Err(e.to_string()),
            };
            read_op(&table, &op)
        }
        op => {
            let txn = db.begin_write().map_err(|e| e.to_string())?;
            let a = apply(&txn, op)?;
            txn.commit().map_err(|e| e.to_string())?;
            Ok(a)
        }
    }
}

fn read_op(table: &impl ReadableTable<&'static [u8], &'static [u8]>, op: &Op) -> Reply {
    match op {
        Op::Get(_, k) => Ok(Answer::Value(table.get(k.as_slice()).map_err(|e| e.to_string())?.map(|g| g.value().to_vec()))),
        Op::Scan(_, prefix) => {
            let mut out = Vec::new();
            for item in table.range::<&[u8]>(prefix.as_slice()..).map_err(|e| e.to_string())? {
                let (k, v) = item.map_err(|e| e.to_string())?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(Answer::Pairs(out))
        }
        _ => Err("internal: not a read".into()),
    }
}

fn apply(txn: &redb::WriteTransaction, op: Op) -> Reply {
    let name = match &op {
        Op::Put(t, ..) | Op::Get(t, _) | Op::Delete(t, _) | Op::Scan(t, _) => t.clone(),
    };
    let mut table = txn.open_table(def(&name)).map_err(|e| e.to_string())?;
    match op {
        Op::Put(_, k, v) => {
            table.insert(k.as_slice(), v.as_slice()).map_err(|e| e.to_string())?;
            Ok(Answer::None)
        }
        Op::Delete(_, k) => Ok(Answer::Bool(table.remove(k.as_slice()).map_err(|e| e.to_string())?.is_some())),
        op => read_op(&table, &op),
    }
}

// ---- keys and values ------------------------------------------------------

const INT_TAG: u8 = 1;
const STR_TAG: u8 = 2;

fn encode_key(v: &Value) -> Result<Vec<u8>, Value> {
    match v {
        Value::Int(i) => {
            let mut out = vec![INT_TAG];
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
            Ok(out)
        }
        Value::Str(s) => {
            let mut out = vec![STR_TAG];
            out.extend_from_slice(s.as_bytes());
            Ok(out)
        }
        other => err("TypeError", format!("database keys are str or int, not {}", other.type_name())),
    }
}

fn decode_key(b: &[u8]) -> Value {
    match b.split_first() {
        Some((&INT_TAG, rest)) if rest.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(rest);
            Value::Int((u64::from_be_bytes(a) ^ (1 << 63)) as i64)
        }
        Some((_, rest)) => Value::str(&String::from_utf8_lossy(rest)),
        None => Value::None,
    }
}

fn encode_value(v: &Value) -> Result<Vec<u8>, Value> {
    let p = to_portable(v).map_err(|e| match e {
        Value::Error(eo) => Value::error("TypeError", format!("cannot store this value: {}", eo.message)),
        e => e,
    })?;
    p.plain_data().map_err(|what| Value::error("TypeError", format!("cannot store {what} in a database")))?;
    rmp_serde::to_vec(&p).map_err(|e| Value::error("TypeError", format!("cannot store this value: {e}")))
}

fn decode_value(vm: &Vm, b: &[u8]) -> R {
    let p: Packet = rmp_serde::from_slice(b).map_err(|e| Value::error("IOError", format!("corrupted value in database: {e}")))?;
    vm.from_portable(&p)
}

fn answer(vm: &Vm, a: Answer) -> R {
    Ok(match a {
        Answer::None => Value::None,
        Answer::Bool(b) => Value::Bool(b),
        Answer::Value(None) => Value::None,
        Answer::Value(Some(b)) => decode_value(vm, &b)?,
        Answer::Pairs(ps) => {
            let mut out = Vec::with_capacity(ps.len());
            for (k, v) in ps {
                out.push(Value::list(vec![decode_key(&k), decode_value(vm, &v)?]));
            }
            Value::list(out)
        }
    })
}

// ---- the Noodle side -------------------------------------------------------

fn table_name(v: &Value) -> Result<String, Value> {
    match v {
        Value::Str(s) if !s.is_empty() => Ok(s.to_string()),
        Value::Str(_) => err("ValueError", "a table name cannot be empty"),
        other => err("TypeError", format!("a table name is a str, not {}", other.type_name())),
    }
}

fn op_from(name: &str, args: &[Value]) -> Result<Op, Value> {
    let n = if name == "put" { 3 } else { 2 };
    arity(name, args, n, n)?;
    let t = table_name(&args[0])?;
    Ok(match name {
        "put" => Op::Put(t, encode_key(&args[1])?, encode_value(&args[2])?),
        "get" => Op::Get(t, encode_key(&args[1])?),
        "delete" => Op::Delete(t, encode_key(&args[1])?),
        _ => Op::Scan(
            t,
            match &args[1] {
                Value::Str(s) if s.is_empty() => Vec::new(),
                Value::Str(s) => {
                    let mut k = vec![STR_TAG];
                    k.extend_from_slice(s.as_bytes());
                    k
                }
                other => return err("TypeError", format!("scan() takes a str prefix, not {}", other.type_name())),
            },
        ),
    })
}

/// Methods of a database handle: `put get delete scan transaction`.
fn method(vm: &mut Vm, h: &Arc<DbHandle>, name: &str, args: &[Value]) -> R {
    match name {
        "put" | "get" | "delete" | "scan" => {
            let op = op_from(name, args)?;
            let (tx, rx) = async_channel::bounded(1);
            h.jobs.send(Job::Single(op, tx)).map_err(|_| Value::error("IOError", format!("database {} is closed", h.path)))?;
            finish_async(vm, h.path.clone(), rx)
        }
        "transaction" => {
            arity(name, args, 1, 1)?;
            transaction(vm, h, args[0].clone())
        }
        "path" => Ok(Value::str(&h.path)),
        _ => err("TypeError", format!("database has no method `{name}`")),
    }
}

/// A future completed from the owner thread's reply.
fn finish_async(vm: &mut Vm, path: String, rx: async_channel::Receiver<Reply>) -> R {
    let fut = FutureObj::new();
    let (f2, vmw) = (fut.clone(), vm.self_ref.clone());
    vm.spawn_helper(true, async move {
        let r = rx.recv().await.unwrap_or_else(|_| Err("the database thread stopped".into()));
        let v = match (r, vmw.upgrade()) {
            (Ok(a), Some(vm)) => answer(&vm.borrow(), a),
            (Ok(_), None) => Ok(Value::None),
            (Err(e), _) => Err(Value::error("IOError", format!("database {path}: {e}"))),
        };
        f2.complete(v);
    })?
    .detach();
    Ok(Value::Future(fut))
}

fn transaction(vm: &mut Vm, h: &Arc<DbHandle>, f: Value) -> R {
    let (ready_tx, ready_rx) = async_channel::bounded(1);
    let (ops_tx, ops_rx) = std::sync::mpsc::channel();
    h.jobs
        .send(Job::Transaction { ready: ready_tx, ops: ops_rx })
        .map_err(|_| Value::error("IOError", format!("database {} is closed", h.path)))?;
    let fut = FutureObj::new();
    let (f2, vmw, path) = (fut.clone(), vm.self_ref.clone(), h.path.clone());
    vm.spawn_helper(true, async move {
        let r = async {
            ready_rx
                .recv()
                .await
                .unwrap_or_else(|_| Err("the database thread stopped".into()))
                .map_err(|e| Value::error("IOError", format!("database {path}: {e}")))?;
            let Some(vmrc) = vmw.upgrade() else { return Ok(Value::None) };
            let handle = Rc::new(TxHandle { path: path.clone(), ops: ops_tx.clone(), open: std::cell::Cell::new(true) });
            let tx = Value::Object(Rc::new(Box::new(Tx(handle.clone()))));
            let result = vmrc.borrow_mut().call_value(&f, std::slice::from_ref(&tx));
            handle.open.set(false);
            let (end_tx, end_rx) = async_channel::bounded(1);
            let _ = ops_tx.send(TxMsg::End(result.is_ok(), end_tx));
            let ended = end_rx.recv().await.unwrap_or_else(|_| Err("the database thread stopped".into()));
            let v = result?;
            ended.map_err(|e| Value::error("IOError", format!("database {path}: commit failed: {e}")))?;
            Ok(v)
        }
        .await;
        f2.complete(r);
    })?
    .detach();
    Ok(Value::Future(fut))
}

/// The `tx` a transaction's lambda receives: synchronous operations.
pub struct TxHandle {
    path: String,
    ops: std::sync::mpsc::Sender<TxMsg>,
    open: std::cell::Cell<bool>,
}

fn tx_method(vm: &mut Vm, t: &TxHandle, name: &str, args: &[Value]) -> R {
    if !matches!(name, "put" | "get" | "delete" | "scan") {
        return err("TypeError", format!("transaction has no method `{name}`"));
    }
    if !t.open.get() {
        return err("ValueError", "this transaction has ended (use tx only inside its lambda)");
    }
    let op = op_from(name, args)?;
    let (tx, rx) = std::sync::mpsc::channel();
    t.ops.send(TxMsg::Op(op, tx)).map_err(|_| Value::error("IOError", format!("database {} is closed", t.path)))?;
    let a = rx
        .recv()
        .unwrap_or_else(|_| Err("the database thread stopped".into()))
        .map_err(|e| Value::error("IOError", format!("database {}: {e}", t.path)))?;
    answer(vm, a)
}

fn open(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("open", kw, &[])?;
    arity("open", args, 1, 1)?;
    match &args[0] {
        Value::Str(p) => Ok(db_value(open_handle(p)?)),
        other => err("TypeError", format!("db.open() needs a path (str), not {}", other.type_name())),
    }
}

module_fns! { DB:
    "open" => open,
}

const METHODS: &[&str] = &["put", "get", "delete", "scan", "transaction", "path"];

fn db_value(h: Arc<DbHandle>) -> Value {
    Value::Object(Rc::new(Box::new(Db(h))))
}

/// A database handle (`db.open`), shared by every open of its file; it
/// travels to other actors as its path.
struct Db(Arc<DbHandle>);

impl NativeObject for Db {
    fn type_name(&self) -> &'static str {
        "database"
    }
    fn display(&self, out: &mut String) {
        out.push_str(&format!("<database {}>", self.0.path));
    }
    fn has_method(&self, name: &str) -> bool {
        METHODS.contains(&name)
    }
    fn call_method(&self, vm: &mut Vm, name: &str, args: &[Value]) -> R {
        method(vm, &self.0, name, args)
    }
    fn portable(&self) -> Result<(&'static str, String), Value> {
        Ok(("db", self.0.path.clone()))
    }
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

fn revive(path: &str) -> R {
    Ok(db_value(open_handle(path)?))
}

/// The `tx` of a transaction's lambda; it belongs to that lambda.
struct Tx(Rc<TxHandle>);

impl NativeObject for Tx {
    fn type_name(&self) -> &'static str {
        "transaction"
    }
    fn display(&self, out: &mut String) {
        out.push_str("<transaction>");
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(name, "put" | "get" | "delete" | "scan")
    }
    fn call_method(&self, vm: &mut Vm, name: &str, args: &[Value]) -> R {
        tx_method(vm, &self.0, name, args)
    }
    fn portable(&self) -> Result<(&'static str, String), Value> {
        err("TypeError", "a transaction cannot be sent (it belongs to its lambda)")
    }
    fn identity(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }
}

pub static MODULE: LibraryModule = LibraryModule { name: "db", functions: DB, constants: &[], revive: Some(revive) };
