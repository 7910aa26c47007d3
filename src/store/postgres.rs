//! The engine for many vault nodes (SPEC §13): PostgreSQL, one table per [`Table`] holding
//! `(k bytea PRIMARY KEY, v bytea NOT NULL)`, created by the vault itself in its own schema.
//!
//! The statements are kept to what PostgreSQL, YugabyteDB and Citus all accept: single-table
//! point reads and range scans on the primary key (`bytea` orders bytewise, as RocksDB does),
//! `INSERT … ON CONFLICT (k) DO UPDATE`, `DELETE`, and one transaction per [`Change`]. A counter
//! add is one upsert that adds in SQL, so concurrent adds on many nodes need no lock.
//! Each connection belongs to one of the store's own worker threads, which take the operations
//! from a queue: the `postgres` client runs its own small runtime, and a thread outside every
//! tokio runtime is where it may block, wherever the caller runs. A worker reconnects when its
//! connection is lost, so a connection string with several hosts and
//! `target_session_attrs=read-write` follows a failover to the new primary.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Statement};

use super::{prefix_successor, Change, Entry, Op, Store, StoreError, Table};

/// The schema version this code creates and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// One operation, run by a worker on its connection (or told why there is none).
type Job = Box<dyn FnOnce(Result<&mut Conn, StoreError>) + Send>;

pub struct PgStore {
    jobs: SyncSender<Job>,
    schema: String,
}

/// A worker's connection with the statements it prepared (named statements live as long as the
/// session, so each is parsed once per connection).
pub(crate) struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

/// The statement for `sql` on this connection, prepared on first use.
fn prepared(
    cache: &mut HashMap<String, Statement>,
    tx: &mut impl GenericClient,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(st) = cache.get(sql) {
        return Ok(st.clone());
    }
    let st = tx.prepare(sql).map_err(pg)?;
    cache.insert(sql.to_owned(), st.clone());
    Ok(st)
}

/// A worker: owns one connection, made on first use and again after it is lost.
fn work(config: postgres::Config, jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the store was dropped
            }
        };
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            conn = config.connect(NoTls).ok().map(|client| Conn {
                client,
                prepared: HashMap::new(),
            });
        }
        match conn.as_mut() {
            Some(c) => job(Ok(c)),
            None => job(Err(StoreError::Unavailable(
                "cannot connect to PostgreSQL".into(),
            ))),
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never print it.
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// A PostgreSQL error: the server out of space is [`StoreError::Full`]; a lost connection, a
/// server that cannot be reached, is shutting down or is not (or no longer) the primary is
/// [`StoreError::Unavailable`]; a transaction rolled back for another is [`StoreError::Conflict`].
fn pg(e: postgres::Error) -> StoreError {
    let Some(c) = e.code() else {
        // No answer from the server: the connection failed, was closed or timed out.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let text = e.to_string();
        return if e.is_closed() || io || text.contains("connect") || text.contains("communicating")
        {
            StoreError::Unavailable(text)
        } else {
            engine(e)
        };
    };
    let class = &c.code()[..2];
    if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY {
        StoreError::Full(e.to_string())
    } else if class == "08" // connection exception
        || class == "57" // operator intervention: shutdown, crash, cannot connect now
        || *c == SqlState::READ_ONLY_SQL_TRANSACTION
        || *c == SqlState::TOO_MANY_CONNECTIONS
    {
        StoreError::Unavailable(e.to_string())
    } else if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED {
        // The transaction was rolled back for another one: decide again on what is there now.
        StoreError::Conflict(e.to_string())
    } else {
        engine(e)
    }
}

/// Whether `s` may be used as an SQL identifier as it is (the schema name).
fn plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PgStore {
    /// Connects to `url` (a libpq connection string or `postgres://` URL) with `connections`
    /// connections, and creates or checks the vault's tables in `schema`.
    pub fn open(url: &str, schema: &str, connections: u32) -> Result<Self, StoreError> {
        if !plain_identifier(schema) {
            return Err(engine(format!(
                "schema {schema:?} must be lower-case letters, digits and _"
            )));
        }
        let mut config: postgres::Config = url.parse().map_err(pg)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        // A server cut off mid-query (a partition) must not hold a request for the kernel's
        // retransmission timeout (minutes): unacknowledged data fails the connection after 10 s,
        // and the worker connects again, to whichever host is the primary then.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(10));
        }
        // A query the server received before the cut (a commit waiting for its synchronous
        // standby) leaves nothing unacknowledged: only keepalive probes notice that the server is
        // gone. Probes after 5 s idle and then every 2 s fail the connection about 11 s after the
        // last answer (the user timeout above decides); with the kernel's 75 s probe interval it
        // took 80 s, and a failover after a partition about 95 s.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3);
        let (tx, rx) = sync_channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..connections.max(1) {
            let (config, rx) = (config.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("pg-{i}"))
                .spawn(move || work(config, rx))
                .map_err(engine)?;
        }
        let store = Self {
            jobs: tx,
            schema: schema.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `f` on a worker's connection and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move |c| {
            let _ = tx.send(c.and_then(f));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn table(&self, t: Table) -> String {
        format!("{}.{}", self.schema, t.name())
    }

    /// Creates the schema, the tables and the version row on first use; refuses a schema made
    /// by a newer version.
    fn migrate(&self) -> Result<(), StoreError> {
        let schema = self.schema.clone();
        let tables: Vec<String> = Table::ALL.iter().map(|t| self.table(*t)).collect();
        self.run(move |c| {
            let mut tx = c.client.transaction().map_err(pg)?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {schema}.schema_version (id int PRIMARY KEY, version bigint NOT NULL);"
            ))
            .map_err(pg)?;
            for t in &tables {
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} (k bytea PRIMARY KEY, v bytea NOT NULL)"
                ))
                .map_err(pg)?;
            }
            let row = tx
                .query_opt(
                    &format!("SELECT version FROM {schema}.schema_version WHERE id = 1"),
                    &[],
                )
                .map_err(pg)?;
            match row.map(|r| r.get::<_, i64>(0)) {
                None => {
                    tx.execute(
                        &format!(
                            "INSERT INTO {schema}.schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"
                        ),
                        &[&SCHEMA_VERSION],
                    )
                    .map_err(pg)?;
                }
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(engine(format!(
                        "the schema {schema} is at version {v}, newer than this vault ({SCHEMA_VERSION})"
                    )))
                }
                Some(_) => {}
            }
            tx.commit().map_err(pg)
        })
        .or_else(|e| match e {
            // Two nodes creating the schema at once: the loser finds it made.
            StoreError::Engine(m) if m.contains("duplicate key") || m.contains("already exists") => {
                Ok(())
            }
            other => Err(other),
        })
    }

    /// Entries with keys in the range, in key order (descending when `reverse`), at most `limit`.
    fn range(
        &self,
        table: Table,
        lower: (Vec<u8>, bool),
        upper: Option<Vec<u8>>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let lower_op = if lower.1 { ">=" } else { ">" };
        let order = if reverse { "DESC" } else { "ASC" };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let t = self.table(table);
        self.run(move |c| {
            let rows = match &upper {
                Some(u) => {
                    let st = prepared(&mut c.prepared, &mut c.client, &format!(
                        "SELECT k, v FROM {t} WHERE k {lower_op} $1 AND k < $2 ORDER BY k {order} LIMIT $3"
                    ))?;
                    c.client.query(&st, &[&lower.0, u, &limit])
                }
                None => {
                    let st = prepared(&mut c.prepared, &mut c.client, &format!(
                        "SELECT k, v FROM {t} WHERE k {lower_op} $1 ORDER BY k {order} LIMIT $2"
                    ))?;
                    c.client.query(&st, &[&lower.0, &limit])
                }
            }
            .map_err(pg)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

/// The position of `t` in [`Table::ALL`] (the order of conditions, and of the table names).
fn index(t: Table) -> usize {
    Table::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

/// One change as one transaction. Its conditions first, in table and key order (so two changes
/// lock their common keys in the same order): a key that must hold a value is locked with
/// `SELECT … FOR UPDATE`, which under READ COMMITTED waits for a concurrent writer and then reads
/// what it committed; a key that must be absent is claimed by inserting it (a concurrent insert
/// of the same key waits for this one, then finds it), and the claim is removed again unless the
/// change writes the key. Then the operations, consecutive puts or deletes of one table as one
/// statement over arrays.
fn apply(c: &mut Conn, names: &[String], mut change: Change) -> Result<(), StoreError> {
    let Conn {
        client,
        prepared: cache,
    } = c;
    let mut tx = client.transaction().map_err(pg)?;
    if !change.durable {
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(pg)?;
    }
    order_conditions(&mut change.conditions)?;
    let put_only = final_puts(&change);
    let (settled, claimed) =
        check_conditions(cache, &mut tx, names, &change.conditions, &put_only)?;
    // Puts of keys claimed with their final value are done; empty claims are deleted.
    change.ops.retain(
        |op| !matches!(op, Op::Put(t, k, _) if settled.contains(&(index(*t), k.as_slice()))),
    );
    change
        .ops
        .extend(claimed.into_iter().map(|(t, k)| Op::Delete(t, k)));
    write_ops(cache, &mut tx, names, &change.ops)?;
    tx.commit().map_err(pg)
}

/// Sorts a change's conditions by table and key (so two changes lock their common keys in one
/// order) and drops repeats; what is left twice on one key contradicts itself and cannot hold.
fn order_conditions(conditions: &mut Vec<super::Condition>) -> Result<(), StoreError> {
    conditions.sort_by(|a, b| (index(a.table), &a.key).cmp(&(index(b.table), &b.key)));
    conditions.dedup();
    match conditions
        .windows(2)
        .find(|w| w[0].table == w[1].table && w[0].key == w[1].key)
    {
        Some(w) => Err(StoreError::Conflict(format!(
            "a key of {} was read twice with different values",
            w[0].table.name()
        ))),
        None => Ok(()),
    }
}

/// The keys a change writes, each with its final value if the change only puts it (`None` after
/// a delete or an add). A key that must be absent and is only put is claimed with that value (one
/// row written, not an empty claim overwritten): an import batch writes each licence once. Empty
/// when the change claims nothing.
fn final_puts(change: &Change) -> HashMap<(usize, &[u8]), Option<&[u8]>> {
    let mut put_only: HashMap<(usize, &[u8]), Option<&[u8]>> = HashMap::new();
    if !change.conditions.iter().any(|c| c.expect.is_none()) {
        return put_only;
    }
    for op in &change.ops {
        match op {
            Op::Put(t, k, v) => {
                // A later put replaces the value; after a delete or an add the key stays mixed.
                if let Some(last) = put_only
                    .entry((index(*t), k.as_slice()))
                    .or_insert(Some(v.as_slice()))
                {
                    *last = v.as_slice();
                }
            }
            Op::Delete(t, k) | Op::Add(t, k, _) => {
                put_only.insert((index(*t), k.as_slice()), None);
            }
        }
    }
    put_only
}

/// Keys claimed with their final value (their puts are done), and keys claimed empty (to delete).
type Claims<'c> = (HashSet<(usize, &'c [u8])>, Vec<(Table, Vec<u8>)>);

/// Checks every condition in order, or says which table changed: a key that must hold a value
/// is locked and compared, one key at a time; a run of keys of one table that must be absent is
/// claimed by one statement (an import batch claims a thousand).
fn check_conditions<'c>(
    cache: &mut HashMap<String, Statement>,
    tx: &mut postgres::Transaction<'_>,
    names: &[String],
    conds: &'c [super::Condition],
    put_only: &HashMap<(usize, &[u8]), Option<&[u8]>>,
) -> Result<Claims<'c>, StoreError> {
    let (mut settled, mut claimed) = (HashSet::new(), Vec::new());
    let mut i = 0;
    while i < conds.len() {
        let cond = &conds[i];
        let t = &names[index(cond.table)];
        let holds = match &cond.expect {
            Some(value) => {
                i += 1;
                let sql = format!("SELECT v FROM {t} WHERE k = $1 FOR UPDATE");
                let st = prepared(cache, tx, &sql)?;
                let row = tx.query_opt(&st, &[&cond.key]).map_err(pg)?;
                row.is_some_and(|r| r.get::<_, Vec<u8>>(0) == *value)
            }
            None => {
                let mut j = i + 1;
                while j < conds.len() && conds[j].table == cond.table && conds[j].expect.is_none() {
                    j += 1;
                }
                let all = claim_absent(cache, tx, t, &conds[i..j], put_only)?;
                if all {
                    for c in &conds[i..j] {
                        match put_only.get(&(index(c.table), c.key.as_slice())) {
                            Some(Some(_)) => {
                                settled.insert((index(c.table), c.key.as_slice()));
                            }
                            // Written by the change's own operations.
                            Some(None) => {}
                            // Not written: the empty claim is deleted at the end.
                            None => claimed.push((c.table, c.key.clone())),
                        }
                    }
                }
                i = j;
                all
            }
        };
        if !holds {
            return Err(StoreError::Conflict(format!(
                "a key of {} changed",
                cond.table.name()
            )));
        }
    }
    Ok((settled, claimed))
}

/// Claims keys of one table that must be absent by inserting them (with their final value when
/// the change only puts them): whether every one was absent.
fn claim_absent(
    cache: &mut HashMap<String, Statement>,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    conds: &[super::Condition],
    put_only: &HashMap<(usize, &[u8]), Option<&[u8]>>,
) -> Result<bool, StoreError> {
    let keys: Vec<&[u8]> = conds.iter().map(|c| c.key.as_slice()).collect();
    let values: Vec<&[u8]> = conds
        .iter()
        .map(|c| {
            put_only
                .get(&(index(c.table), c.key.as_slice()))
                .copied()
                .flatten()
                .unwrap_or_default()
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
         ON CONFLICT (k) DO NOTHING"
    );
    let st = prepared(cache, tx, &sql)?;
    let inserted = tx.execute(&st, &[&keys, &values]).map_err(pg)?;
    Ok(inserted == keys.len() as u64)
}

/// Writes the operations, each run of puts or deletes on one table as one statement over arrays.
fn write_ops(
    cache: &mut HashMap<String, Statement>,
    tx: &mut postgres::Transaction<'_>,
    names: &[String],
    ops: &[Op],
) -> Result<(), StoreError> {
    let same = |a: &Op, b: &Op| match (a, b) {
        (Op::Put(x, ..), Op::Put(y, ..)) | (Op::Delete(x, _), Op::Delete(y, _)) => x == y,
        _ => false,
    };
    let mut i = 0;
    while i < ops.len() {
        // The run of operations of the same kind on the same table that starts at i.
        let mut j = i + 1;
        while j < ops.len() && same(&ops[i], &ops[j]) {
            j += 1;
        }
        match &ops[i] {
            Op::Put(t, ..) => {
                // The last value of each key (one statement may not write a row twice).
                let mut last: HashMap<&[u8], &[u8]> = HashMap::new();
                let mut keys: Vec<&[u8]> = Vec::new();
                for op in &ops[i..j] {
                    if let Op::Put(_, k, v) = op {
                        if last.insert(k, v).is_none() {
                            keys.push(k);
                        }
                    }
                }
                let values: Vec<&[u8]> = keys.iter().map(|k| last[k]).collect();
                let sql = format!(
                    "INSERT INTO {} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                    names[index(*t)]
                );
                let st = prepared(cache, tx, &sql)?;
                tx.execute(&st, &[&keys, &values]).map_err(pg)?;
            }
            Op::Delete(t, _) => {
                let keys: Vec<&[u8]> = ops[i..j]
                    .iter()
                    .filter_map(|op| match op {
                        Op::Delete(_, k) => Some(k.as_slice()),
                        _ => None,
                    })
                    .collect();
                let sql = format!("DELETE FROM {} WHERE k = ANY($1)", names[index(*t)]);
                let st = prepared(cache, tx, &sql)?;
                tx.execute(&st, &[&keys]).map_err(pg)?;
            }
            Op::Add(t, k, n) => {
                let n = i64::try_from(*n).map_err(|_| engine("counter add beyond 2^63"))?;
                // Counters are 8 bytes big-endian, as in RocksDB; the server adds, so
                // concurrent adds from any node sum.
                let sql = format!(
                    "INSERT INTO {} AS t (k, v) VALUES ($1, int8send($2::int8)) ON CONFLICT (k) \
                     DO UPDATE SET v = int8send(('x' || encode(t.v, 'hex'))::bit(64)::int8 + $2::int8)",
                    names[index(*t)]
                );
                let st = prepared(cache, tx, &sql)?;
                tx.execute(&st, &[k as &(dyn ToSql + Sync), &n])
                    .map_err(pg)?;
            }
        }
        i = j;
    }
    Ok(())
}

impl Store for PgStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (t, key) = (self.table(table), key.to_vec());
        self.run(move |c| {
            let st = prepared(
                &mut c.prepared,
                &mut c.client,
                &format!("SELECT v FROM {t} WHERE k = $1"),
            )?;
            let row = c.client.query_opt(&st, &[&key]).map_err(pg)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (t, keys) = (self.table(table), keys.to_vec());
        self.run(move |c| {
            let st = prepared(
                &mut c.prepared,
                &mut c.client,
                &format!("SELECT k, v FROM {t} WHERE k = ANY($1)"),
            )?;
            let rows = c.client.query(&st, &[&keys]).map_err(pg)?;
            let found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
                rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
        })
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.range(
            table,
            (prefix.to_vec(), true),
            prefix_successor(prefix),
            reverse,
            limit,
        )
    }

    fn scan_after(
        &self,
        table: Table,
        prefix: &[u8],
        after: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let upper = prefix_successor(prefix);
        if reverse {
            // Keys in the prefix strictly before `after`.
            let bound = match upper {
                Some(u) if u.as_slice() < after => u,
                _ => after.to_vec(),
            };
            self.range(table, (prefix.to_vec(), true), Some(bound), true, limit)
        } else {
            let lower = if after >= prefix {
                (after.to_vec(), false)
            } else {
                (prefix.to_vec(), true)
            };
            self.range(table, lower, upper, false, limit)
        }
    }

    fn commit(&self, change: Change) -> Result<(), StoreError> {
        if change.ops.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = Table::ALL.iter().map(|t| self.table(*t)).collect();
        self.run(move |c| apply(c, &names, change))
    }

    fn shared(&self) -> bool {
        true
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.run(|c| {
            // A primary accepts writes; a standby (after a failover, the old primary) does not.
            let row = c
                .client
                .query_one("SELECT pg_is_in_recovery()", &[])
                .map_err(pg)?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::Unavailable(
                    "the database is a standby: not accepting writes".into(),
                ));
            }
            Ok(())
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every durable change is committed synchronously; nothing is buffered here.
        Ok(())
    }
}
