//! The consistent membership provider (`--membership etcd://HOST:PORT`,
//! runtime.md §8): membership, the name directory and the ownership of
//! failed-over durable actors kept in etcd instead of gossip.
//!
//! etcd is reached through its v3 JSON gateway (`/v3/kv/...`,
//! `/v3/lease/...`) with a blocking HTTP client (ureq) on the caller's
//! thread: no protoc, no second async runtime, and every call is bounded
//! by a timeout. Keys and values travel base64-encoded, as the gateway
//! wants; 64-bit numbers come back as strings.

mod directory;
pub use directory::claim_actor;
pub mod provider;

use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Keys written in one transaction (etcd allows 128 operations by default).
pub const MAX_TXN: usize = 64;

/// One key as etcd keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of its last change (0: the key does not exist).
    pub mod_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: i64,
}

/// A client of one etcd endpoint, with every key under `/{prefix}/`.
pub struct Etcd {
    http: ureq::Agent,
    base: String,
    prefix: String,
    /// `HOST:PORT`, for messages.
    pub addr: String,
}

impl Etcd {
    /// `etcd://HOST:PORT[/PREFIX]` (prefix `noodle` unless given); each
    /// call gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Etcd, String> {
        let rest = url.strip_prefix("etcd://").ok_or_else(|| format!("--membership {url}: use swim or etcd://HOST:PORT[/PREFIX]"))?;
        let (addr, prefix) = rest.split_once('/').unwrap_or((rest, "noodle"));
        let prefix = prefix.trim_matches('/');
        let port_ok = addr.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok || prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("--membership {url}: use etcd://HOST:PORT[/PREFIX]"));
        }
        let config = ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build();
        Ok(Etcd { http: config.into(), base: format!("http://{addr}"), prefix: prefix.to_string(), addr: addr.to_string() })
    }

    /// The full key for `key` under this cluster's prefix.
    pub fn key(&self, key: &str) -> String {
        format!("/{}/{key}", self.prefix)
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let fail = |e: String| format!("etcd at {}: {e}", self.addr);
        let mut resp = self.http.post(&format!("{}{path}", self.base)).send(body.to_string()).map_err(|e| fail(e.to_string()))?;
        let text = resp.body_mut().with_config().limit(256 << 20).read_to_string().map_err(|e| fail(e.to_string()))?;
        let v: Value = serde_json::from_str(&text).map_err(|_| fail(format!("unexpected answer to {path}: {}", clip(&text))))?;
        match v.get("error").or_else(|| v.get("message")) {
            Some(e) => Err(fail(e.as_str().unwrap_or("error").to_string())),
            None if resp.status().is_success() => Ok(v),
            None => Err(fail(format!("HTTP {} from {path}", resp.status()))),
        }
    }

    /// A lease of `ttl` seconds: its id.
    pub fn grant(&self, ttl: u64) -> Result<i64, String> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl }))?;
        num(&v["ID"]).filter(|&id| id != 0).ok_or_else(|| format!("etcd at {}: no lease id in the answer", self.addr))
    }

    /// Renew `lease`: the seconds it has left (0: it expired).
    pub fn keep_alive(&self, lease: i64) -> Result<i64, String> {
        let v = self.call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))?;
        Ok(num(&v["result"]["TTL"]).unwrap_or(0))
    }

    /// End `lease` now: its keys go at once.
    pub fn revoke(&self, lease: i64) -> Result<(), String> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() })).map(drop)
    }

    /// Set `key` (attached to `lease` unless 0).
    pub fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<(), String> {
        self.call("/v3/kv/put", put_body(&self.key(key), value, lease)).map(drop)
    }

    /// `key`, if it exists.
    pub fn get(&self, key: &str) -> Result<Option<Kv>, String> {
        let v = self.call("/v3/kv/range", json!({ "key": B64.encode(self.key(key)) }))?;
        Ok(kvs(&v).into_iter().next())
    }

    /// Every key starting with `prefix`.
    pub fn list(&self, prefix: &str) -> Result<Vec<Kv>, String> {
        let from = self.key(prefix);
        let v = self.call("/v3/kv/range", json!({ "key": B64.encode(&from), "range_end": B64.encode(range_end(&from)) }))?;
        Ok(kvs(&v))
    }

    /// Set `key` only if it was last changed at `mod_revision` (0: only if
    /// it does not exist): whether it was set.
    pub fn put_if(&self, key: &str, mod_revision: i64, value: &[u8], lease: i64) -> Result<bool, String> {
        let full = self.key(key);
        self.txn(&full, mod_revision, json!({ "requestPut": put_body(&full, value, lease) }))
    }

    /// Set every key of `items` (key, revision it was last changed at or 0
    /// if absent, value) in one transaction, only if none changed since:
    /// whether they were set. At most `MAX_TXN` items.
    pub fn put_all_if(&self, items: &[(String, i64, Vec<u8>)], lease: i64) -> Result<bool, String> {
        let mut compare = Vec::new();
        let mut success = Vec::new();
        for (key, rev, value) in items {
            let full = self.key(key);
            compare.push(changed_at(&full, *rev));
            success.push(json!({ "requestPut": put_body(&full, value, lease) }));
        }
        let v = self.call("/v3/kv/txn", json!({ "compare": compare, "success": success }))?;
        Ok(v["succeeded"].as_bool().unwrap_or(false))
    }

    /// Create `key` if it does not exist; if it does, what it holds (one
    /// round trip either way).
    pub fn create_or_get(&self, key: &str, value: &[u8], lease: i64) -> Result<Option<Kv>, String> {
        let full = self.key(key);
        let compare = changed_at(&full, 0);
        let body = json!({
            "compare": [compare],
            "success": [{ "requestPut": put_body(&full, value, lease) }],
            "failure": [{ "requestRange": { "key": B64.encode(&full) } }],
        });
        let v = self.call("/v3/kv/txn", body)?;
        if v["succeeded"].as_bool().unwrap_or(false) {
            return Ok(None);
        }
        // Gone again since the compare: claimed on the next try.
        let held = kvs(&v["responses"][0]["response_range"]).into_iter().next();
        Ok(Some(held.unwrap_or(Kv { key: full, value: Vec::new(), mod_revision: 0, lease: 0 })))
    }

    /// Delete `key` only if it was last changed at `mod_revision`.
    pub fn delete_if(&self, key: &str, mod_revision: i64) -> Result<bool, String> {
        let full = self.key(key);
        self.txn(&full, mod_revision, json!({ "requestDeleteRange": { "key": B64.encode(&full) } }))
    }

    /// Delete every key starting with `prefix`.
    pub fn delete_all(&self, prefix: &str) -> Result<(), String> {
        let from = self.key(prefix);
        self.call("/v3/kv/deleterange", json!({ "key": B64.encode(&from), "range_end": B64.encode(range_end(&from)) })).map(drop)
    }

    fn txn(&self, full: &str, mod_revision: i64, op: Value) -> Result<bool, String> {
        let compare = changed_at(full, mod_revision);
        let v = self.call("/v3/kv/txn", json!({ "compare": [compare], "success": [op] }))?;
        Ok(v["succeeded"].as_bool().unwrap_or(false))
    }
}

/// A transaction's condition: `full` was last changed at `mod_revision`
/// (0: it does not exist).
fn changed_at(full: &str, mod_revision: i64) -> Value {
    json!({ "key": B64.encode(full), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string() })
}

fn put_body(full: &str, value: &[u8], lease: i64) -> Value {
    let mut b = json!({ "key": B64.encode(full), "value": B64.encode(value) });
    if lease != 0 {
        b["lease"] = json!(lease.to_string());
    }
    b
}

/// The first key after every key starting with `prefix`.
fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The gateway writes 64-bit numbers as strings.
fn num(v: &Value) -> Option<i64> {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_i64())
}

fn kvs(v: &Value) -> Vec<Kv> {
    let Some(items) = v["kvs"].as_array() else { return Vec::new() };
    items
        .iter()
        .filter_map(|kv| {
            let key = B64.decode(kv["key"].as_str()?).ok()?;
            let value = kv["value"].as_str().map_or(Ok(Vec::new()), |s| B64.decode(s)).ok()?;
            Some(Kv {
                key: String::from_utf8(key).ok()?,
                value,
                mod_revision: num(&kv["mod_revision"]).unwrap_or(0),
                lease: num(&kv["lease"]).unwrap_or(0),
            })
        })
        .collect()
}

fn clip(s: &str) -> &str {
    &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Etcd::new("etcd://127.0.0.1:2379", Duration::from_secs(1)).unwrap();
        assert_eq!((e.addr.as_str(), e.key("nodes/a").as_str()), ("127.0.0.1:2379", "/noodle/nodes/a"));
        let e = Etcd::new("etcd://localhost:2379/team/x/", Duration::from_secs(1)).unwrap();
        assert_eq!(e.key("n"), "/team/x/n");
        for bad in ["http://127.0.0.1:2379", "etcd://127.0.0.1", "etcd://:2379", "etcd://h:99999", "etcd://h:1/ "] {
            assert!(Etcd::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_end_after_the_prefix() {
        assert_eq!(range_end("/n/a"), b"/n/b");
        assert_eq!(num(&json!("42")), Some(42));
        assert_eq!(num(&json!(7)), Some(7));
    }
}
