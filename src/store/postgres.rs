//! The engine for many vault nodes (SPEC §13): PostgreSQL, one table per [`Table`] holding
//! `(k bytea PRIMARY KEY, v bytea NOT NULL)`, created by the vault itself in its own schema.
//!
//! The statements are kept to what PostgreSQL, YugabyteDB and Citus all accept: single-table
//! point reads and range scans on the primary key (`bytea` orders bytewise, as RocksDB does),
//! `INSERT … ON CONFLICT (k) DO UPDATE`, `DELETE`, and one transaction per [`Change`]. A counter
//! add is one upsert that adds in SQL, so concurrent adds on many nodes need no lock.
//! Each connection belongs to one of the store's own worker threads, which take the operations
//! from a queue and drive their `tokio-postgres` connection with a runtime of their own (a thread
//! outside every tokio runtime may block, wherever the caller runs). A change is sent as one
//! pipelined flight of statements ([`apply`]). A worker reconnects when its
//! connection is lost, so a connection string with several hosts and
//! `target_session_attrs=read-write` follows a failover to the new primary.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

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
/// session, so each is parsed once per connection), and the runtime that drives it while the
/// worker waits for an answer.
pub(crate) struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
    rt: tokio::runtime::Runtime,
}

impl Conn {
    fn connect(config: &tokio_postgres::Config) -> Option<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let (client, connection) = rt.block_on(config.connect(NoTls)).ok()?;
        // The connection's task runs whenever the worker waits on this runtime.
        rt.spawn(connection);
        Some(Self {
            client,
            prepared: HashMap::new(),
            rt,
        })
    }

    /// Runs `f` on this connection until it is done.
    fn block<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The statement for each of `sqls`, those not yet prepared on this connection prepared
    /// together (one round trip).
    fn statements(&mut self, sqls: &[&str]) -> Result<Vec<Statement>, StoreError> {
        let mut missing: Vec<&str> = sqls
            .iter()
            .copied()
            .filter(|s| !self.prepared.contains_key(*s))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let client = &self.client;
            let made = self
                .rt
                .block_on(join_all(missing.iter().map(|s| client.prepare(s))));
            for (sql, st) in missing.into_iter().zip(made) {
                self.prepared.insert(sql.to_owned(), st.map_err(pg)?);
            }
        }
        Ok(sqls.iter().map(|s| self.prepared[*s].clone()).collect())
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        Ok(self.statements(&[sql])?.remove(0))
    }
}

/// A worker: owns one connection, made on first use and again after it is lost.
fn work(config: tokio_postgres::Config, jobs: Arc<Mutex<Receiver<Job>>>) {
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
            conn = Conn::connect(&config);
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
fn pg(e: tokio_postgres::Error) -> StoreError {
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
        let mut config: tokio_postgres::Config = url.parse().map_err(pg)?;
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
            let Conn { client, rt, .. } = c;
            rt.block_on(async {
                let tx = client.transaction().await?;
                tx.batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema};
                     CREATE TABLE IF NOT EXISTS {schema}.schema_version (id int PRIMARY KEY, version bigint NOT NULL);"
                ))
                .await?;
                for t in &tables {
                    tx.batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS {t} (k bytea PRIMARY KEY, v bytea NOT NULL)"
                    ))
                    .await?;
                }
                let row = tx
                    .query_opt(
                        &format!("SELECT version FROM {schema}.schema_version WHERE id = 1"),
                        &[],
                    )
                    .await?;
                match row.map(|r| r.get::<_, i64>(0)) {
                    None => {
                        tx.execute(
                            &format!(
                                "INSERT INTO {schema}.schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"
                            ),
                            &[&SCHEMA_VERSION],
                        )
                        .await?;
                    }
                    Some(v) if v > SCHEMA_VERSION => {
                        return Ok(Err(engine(format!(
                            "the schema {schema} is at version {v}, newer than this vault ({SCHEMA_VERSION})"
                        ))))
                    }
                    Some(_) => {}
                }
                tx.commit().await.map(Ok)
            })
            .map_err(pg)?
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
        let query = Query::range(&self.table(table), lower, upper, reverse, limit);
        self.run(move |c| {
            let st = c.statement(&query.sql)?;
            let rows = c.block(query.run(&c.client, &st)).map_err(pg)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

/// A read, with its parameters.
struct Query {
    sql: String,
    key: Vec<u8>,
    upper: Option<Vec<u8>>,
    limit: Option<i64>,
    /// Keys of a multi-key get.
    keys: Vec<Vec<u8>>,
    /// A range read in descending key order.
    reverse: bool,
}

impl Query {
    /// The entries of `keys` (one statement for all).
    fn get(table: &str, keys: Vec<Vec<u8>>) -> Self {
        match <[Vec<u8>; 1]>::try_from(keys) {
            Ok([key]) => Self {
                sql: format!("SELECT k, v FROM {table} WHERE k = $1"),
                key,
                upper: None,
                limit: None,
                keys: Vec::new(),
                reverse: false,
            },
            Err(keys) => Self {
                sql: format!("SELECT k, v FROM {table} WHERE k = ANY($1)"),
                key: Vec::new(),
                upper: None,
                limit: None,
                keys,
                reverse: false,
            },
        }
    }

    /// Entries with keys in the range, in key order (descending when `reverse`), at most `limit`.
    fn range(
        table: &str,
        lower: (Vec<u8>, bool),
        upper: Option<Vec<u8>>,
        reverse: bool,
        limit: usize,
    ) -> Self {
        let lower_op = if lower.1 { ">=" } else { ">" };
        let order = if reverse { "DESC" } else { "ASC" };
        let sql = match upper {
            Some(_) => format!(
                "SELECT k, v FROM {table} WHERE k {lower_op} $1 AND k < $2 ORDER BY k {order} LIMIT $3"
            ),
            None => {
                format!("SELECT k, v FROM {table} WHERE k {lower_op} $1 ORDER BY k {order} LIMIT $2")
            }
        };
        Self {
            sql,
            key: lower.0,
            upper,
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
            keys: Vec::new(),
            reverse,
        }
    }

    /// The parameters, in the order the statement numbers them.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match (&self.upper, &self.limit) {
            (Some(u), Some(n)) => vec![&self.key, u, n],
            (None, Some(n)) => vec![&self.key, n],
            _ if !self.keys.is_empty() => vec![&self.keys],
            _ => vec![&self.key],
        }
    }

    async fn run(
        &self,
        client: &Client,
        st: &Statement,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        client.query(st, &self.params()).await
    }
}

/// Several reads as one statement: each query a branch of a `UNION ALL`, its rows tagged with its
/// position (one snapshot, one transaction, one execution on the server).
fn union(queries: &[&Query]) -> String {
    let mut base = 0;
    let branches: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let sql = renumber(&q.sql, base);
            base += q.params().len();
            format!("SELECT {i}::int4 AS i, k, v FROM ({sql}) AS q{i}")
        })
        .collect();
    branches.join(" UNION ALL ")
}

/// `sql` with each parameter `$n` made `$(n + base)`.
fn renumber(sql: &str, base: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            n = n * 10 + d as usize;
            chars.next();
        }
        out.push_str(&(n + base).to_string());
    }
    out
}

/// The position of `t` in [`Table::ALL`] (the order of conditions, and of the table names).
fn index(t: Table) -> usize {
    Table::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

/// One change as one transaction, sent as one flight of statements (pipelined: no statement waits
/// for the answer to the one before), then `COMMIT` or `ROLLBACK` once the answers say whether
/// every condition held. The conditions come first, in table and key order (so two changes lock
/// their common keys in the same order): a key that must hold a value is locked with
/// `SELECT … FOR UPDATE`, which under READ COMMITTED waits for a concurrent writer and then reads
/// what it committed; a key that must be absent is claimed by inserting it (a concurrent insert
/// of the same key waits for this one, then finds it), and the claim is removed again unless the
/// change writes the key. Then the operations, consecutive puts, deletes or adds of one table as
/// one statement over arrays. The operations are sent as if every condition held; when one does
/// not, the transaction is rolled back and nothing of it stays.
fn apply(c: &mut Conn, names: &[String], mut change: Change) -> Result<(), StoreError> {
    order_conditions(&mut change.conditions)?;
    let put_only = final_puts(&change);
    let (mut steps, settled, claimed) = condition_steps(names, &change.conditions, &put_only);
    // Puts of keys claimed with their final value are done by the claim; empty claims are
    // deleted.
    let mut ops: Vec<&Op> = change
        .ops
        .iter()
        .filter(
            |op| !matches!(op, Op::Put(t, k, _) if settled.contains(&(index(*t), k.as_slice()))),
        )
        .collect();
    let deletes: Vec<Op> = claimed
        .into_iter()
        .map(|(t, k)| Op::Delete(t, k.to_vec()))
        .collect();
    ops.extend(deletes.iter());
    steps.extend(op_steps(names, &ops)?);

    let sqls: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
    let statements = c.statements(&sqls)?;
    let begin = if change.durable {
        "BEGIN"
    } else {
        "BEGIN; SET LOCAL synchronous_commit = off"
    };
    let client = &c.client;
    // Sent in this order at the first poll; `BEGIN` counts as a statement that holds.
    let begun: Answer<'_> =
        Box::pin(async move { client.batch_execute(begin).await.map(|()| true) });
    let flight = std::iter::once(begun).chain(
        steps
            .iter()
            .zip(&statements)
            .map(|(s, st)| s.run(client, st)),
    );
    let mut answers = c.block(in_order(flight.collect()));
    let unheld = steps
        .iter()
        .zip(answers.iter().skip(1))
        .find(|(_, a)| matches!(a, Ok(false)))
        .map(|(s, _)| s.table);
    // The first error is the cause; every statement after it answers that the transaction is
    // aborted.
    let failed = answers
        .iter()
        .position(Result::is_err)
        .and_then(|i| answers.swap_remove(i).err());
    if failed.is_some() || unheld.is_some() {
        // On a lost connection the server rolls back by itself.
        let _ = c.block(c.client.batch_execute("ROLLBACK"));
        return Err(match (failed, unheld) {
            (Some(e), _) => pg(e),
            (None, t) => StoreError::Conflict(format!(
                "a key of {} changed",
                t.map_or("a table", Table::name)
            )),
        });
    }
    c.block(c.client.batch_execute("COMMIT")).map_err(pg)
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

/// A statement sent, or about to be, and its answer to come.
type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs `futures` together, polling them in the order given every time: a statement is sent at
/// its future's first poll, so the server receives them in this order, without any waiting for
/// the answer to the one before (pipelining).
async fn in_order<T>(mut futures: Vec<Pending<'_, T>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// One statement of a change, and what its answer must be for the change to apply.
struct Step<'c> {
    sql: String,
    table: Table,
    kind: Kind<'c>,
}

enum Kind<'c> {
    /// `SELECT v … FOR UPDATE`: the key must hold this value.
    Holds(&'c [u8], &'c [u8]),
    /// Keys claimed by inserting them: every one must have been absent.
    Claims(Vec<&'c [u8]>, Vec<&'c [u8]>),
    Puts(Vec<&'c [u8]>, Vec<&'c [u8]>),
    Deletes(Vec<&'c [u8]>),
    Adds(Vec<&'c [u8]>, Vec<i64>),
    /// Writes to distinct tables, as one statement (data-modifying `WITH`).
    Writes(Vec<(Table, Kind<'c>)>),
}

impl Kind<'_> {
    /// The statement of a write to `table`.
    fn write_sql(&self, table: &str) -> String {
        match self {
            Kind::Puts(..) => format!(
                "INSERT INTO {table} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ),
            Kind::Deletes(_) => format!("DELETE FROM {table} WHERE k = ANY($1::bytea[])"),
            // Counters are 8 bytes big-endian, as in RocksDB; the server adds, so concurrent adds
            // from any node sum.
            Kind::Adds(..) => format!(
                "INSERT INTO {table} AS t (k, v) SELECT k, int8send(n) FROM unnest($1::bytea[], $2::int8[]) AS u(k, n) \
                 ON CONFLICT (k) DO UPDATE SET v = int8send(('x' || encode(t.v, 'hex'))::bit(64)::int8 \
                 + ('x' || encode(EXCLUDED.v, 'hex'))::bit(64)::int8)"
            ),
            Kind::Holds(..) | Kind::Claims(..) | Kind::Writes(_) => String::new(),
        }
    }

    /// The parameters of a write, in the order its statement numbers them.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            Kind::Puts(keys, values) => vec![keys, values],
            Kind::Deletes(keys) => vec![keys],
            Kind::Adds(keys, n) => vec![keys, n],
            Kind::Writes(parts) => parts.iter().flat_map(|(_, k)| k.params()).collect(),
            Kind::Holds(..) | Kind::Claims(..) => Vec::new(),
        }
    }
}

type Answer<'a> = Pending<'a, Result<bool, tokio_postgres::Error>>;

impl Step<'_> {
    /// Sends the statement; its answer is whether the change may still apply.
    fn run<'a>(&'a self, client: &'a Client, st: &'a Statement) -> Answer<'a> {
        Box::pin(async move {
            Ok(match &self.kind {
                Kind::Holds(key, value) => client
                    .query_opt(st, &[key])
                    .await?
                    .is_some_and(|r| r.get::<_, &[u8]>(0) == *value),
                Kind::Claims(keys, values) => {
                    client.execute(st, &[keys, values]).await? == keys.len() as u64
                }
                write => {
                    client.execute(st, &write.params()).await?;
                    true
                }
            })
        })
    }
}

/// The statements of a change's conditions, the keys claimed with their final value (their
/// puts are done by the claim) and the keys claimed empty (to delete before the commit). A key
/// that must hold a value is locked and compared, one key at a time; a run of keys of one table
/// that must be absent is claimed by one statement (an import batch claims a thousand).
#[allow(clippy::type_complexity)]
fn condition_steps<'c>(
    names: &[String],
    conds: &'c [super::Condition],
    put_only: &HashMap<(usize, &[u8]), Option<&'c [u8]>>,
) -> (
    Vec<Step<'c>>,
    HashSet<(usize, &'c [u8])>,
    Vec<(Table, &'c [u8])>,
) {
    let (mut steps, mut settled, mut claimed) = (Vec::new(), HashSet::new(), Vec::new());
    let mut i = 0;
    while i < conds.len() {
        let cond = &conds[i];
        let t = &names[index(cond.table)];
        match &cond.expect {
            Some(value) => {
                i += 1;
                steps.push(Step {
                    sql: format!("SELECT v FROM {t} WHERE k = $1 FOR UPDATE"),
                    table: cond.table,
                    kind: Kind::Holds(&cond.key, value),
                });
            }
            None => {
                let mut j = i + 1;
                while j < conds.len() && conds[j].table == cond.table && conds[j].expect.is_none() {
                    j += 1;
                }
                let mut keys = Vec::with_capacity(j - i);
                let mut values = Vec::with_capacity(j - i);
                for c in &conds[i..j] {
                    let key = (index(c.table), c.key.as_slice());
                    keys.push(c.key.as_slice());
                    match put_only.get(&key) {
                        // Claimed with the value the change puts.
                        Some(Some(v)) => {
                            settled.insert(key);
                            values.push(*v);
                        }
                        // Written by the change's own operations.
                        Some(None) => values.push(&[][..]),
                        // Not written: the empty claim is deleted at the end.
                        None => {
                            claimed.push((c.table, c.key.as_slice()));
                            values.push(&[][..]);
                        }
                    }
                }
                steps.push(Step {
                    sql: format!(
                        "INSERT INTO {t} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                         ON CONFLICT (k) DO NOTHING"
                    ),
                    table: cond.table,
                    kind: Kind::Claims(keys, values),
                });
                i = j;
            }
        }
    }
    (steps, settled, claimed)
}

/// The statements of the operations: each run of puts, deletes or adds on one table is one
/// write over arrays, and consecutive writes to distinct tables are one statement.
fn op_steps<'c>(names: &[String], ops: &[&'c Op]) -> Result<Vec<Step<'c>>, StoreError> {
    let same = |a: &Op, b: &Op| match (a, b) {
        (Op::Put(x, ..), Op::Put(y, ..))
        | (Op::Delete(x, _), Op::Delete(y, _))
        | (Op::Add(x, ..), Op::Add(y, ..)) => x == y,
        _ => false,
    };
    let mut writes: Vec<(Table, Kind<'c>)> = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        // The run of operations of the same kind on the same table that starts at i.
        let mut j = i + 1;
        while j < ops.len() && same(ops[i], ops[j]) {
            j += 1;
        }
        let run = &ops[i..j];
        writes.push(match ops[i] {
            Op::Put(t, ..) => {
                // The last value of each key (one statement may not write a row twice).
                let mut last: HashMap<&[u8], &[u8]> = HashMap::new();
                let mut keys: Vec<&[u8]> = Vec::new();
                for op in run {
                    if let Op::Put(_, k, v) = op {
                        if last.insert(k, v).is_none() {
                            keys.push(k);
                        }
                    }
                }
                let values: Vec<&[u8]> = keys.iter().map(|k| last[k]).collect();
                (*t, Kind::Puts(keys, values))
            }
            Op::Delete(t, _) => {
                let keys: Vec<&[u8]> = run
                    .iter()
                    .filter_map(|op| match op {
                        Op::Delete(_, k) => Some(k.as_slice()),
                        _ => None,
                    })
                    .collect();
                (*t, Kind::Deletes(keys))
            }
            Op::Add(t, ..) => {
                // The sum for each key (one statement may not write a row twice).
                let mut sums: Vec<(&[u8], i64)> = Vec::new();
                for op in run {
                    if let Op::Add(_, k, n) = op {
                        let n = i64::try_from(*n).map_err(|_| engine("counter add beyond 2^63"))?;
                        match sums.iter_mut().find(|(key, _)| *key == k.as_slice()) {
                            Some((_, sum)) => {
                                *sum = sum
                                    .checked_add(n)
                                    .ok_or_else(|| engine("counter add beyond 2^63"))?;
                            }
                            None => sums.push((k, n)),
                        }
                    }
                }
                let (keys, n) = sums.into_iter().unzip();
                (*t, Kind::Adds(keys, n))
            }
        });
        i = j;
    }
    // Groups of consecutive writes to distinct tables (a table written twice in one statement
    // would see neither write of the other).
    let mut steps = Vec::new();
    let mut group: Vec<(Table, Kind<'c>)> = Vec::new();
    for (t, kind) in writes {
        if group.iter().any(|(u, _)| *u == t) {
            steps.push(write_step(names, std::mem::take(&mut group)));
        }
        group.push((t, kind));
    }
    if !group.is_empty() {
        steps.push(write_step(names, group));
    }
    Ok(steps)
}

/// One statement for writes to distinct tables: `WITH w1 AS (…), … last`.
fn write_step<'c>(names: &[String], mut group: Vec<(Table, Kind<'c>)>) -> Step<'c> {
    if group.len() == 1 {
        let (table, kind) = group.remove(0);
        let sql = kind.write_sql(&names[index(table)]);
        return Step { sql, table, kind };
    }
    let mut base = 0;
    let mut parts = Vec::with_capacity(group.len());
    for (t, kind) in &group {
        parts.push(renumber(&kind.write_sql(&names[index(*t)]), base));
        base += kind.params().len();
    }
    let last = parts.pop().unwrap_or_default();
    let with: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("w{i} AS ({p})"))
        .collect();
    Step {
        sql: format!("WITH {} {last}", with.join(", ")),
        table: group[0].0,
        kind: Kind::Writes(group),
    }
}

impl Store for PgStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut got = self.read_all(&[super::Read::Get(table, key)])?;
        Ok(got.pop().and_then(super::value))
    }

    fn read_all(&self, reads: &[super::Read<'_>]) -> Result<Vec<Vec<Entry>>, StoreError> {
        // Consecutive gets of one table are one statement (`k = ANY`), answered for each.
        let mut queries: Vec<(Query, std::ops::Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < reads.len() {
            let (query, end) = match reads[i] {
                super::Read::Get(t, _) => {
                    let mut keys = Vec::new();
                    let mut j = i;
                    while let Some(super::Read::Get(u, k)) = reads.get(j) {
                        if *u != t {
                            break;
                        }
                        keys.push(k.to_vec());
                        j += 1;
                    }
                    (Query::get(&self.table(t), keys), j)
                }
                super::Read::Scan {
                    table,
                    prefix,
                    reverse,
                    limit,
                } => (
                    Query::range(
                        &self.table(table),
                        (prefix.to_vec(), true),
                        prefix_successor(prefix),
                        reverse,
                        limit,
                    ),
                    i + 1,
                ),
            };
            queries.push((query, i..end));
            i = end;
        }
        let wanted: Vec<Option<Vec<u8>>> = reads
            .iter()
            .map(|r| match r {
                super::Read::Get(_, k) => Some(k.to_vec()),
                super::Read::Scan { .. } => None,
            })
            .collect();
        self.run(move |c| {
            // One statement for the flight: its reads see one snapshot.
            let all: Vec<&Query> = queries.iter().map(|(q, _)| q).collect();
            let answers: Vec<Vec<Entry>> = if let [q] = all.as_slice() {
                let st = c.statement(&q.sql)?;
                let rows = c.block(q.run(&c.client, &st)).map_err(pg)?;
                vec![rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()]
            } else {
                let st = c.statement(&union(&all))?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    all.iter().flat_map(|q| q.params()).collect();
                let rows = c.block(c.client.query(&st, &params)).map_err(pg)?;
                let mut answers: Vec<Vec<Entry>> = all.iter().map(|_| Vec::new()).collect();
                for r in rows {
                    let i = usize::try_from(r.get::<_, i32>(0)).unwrap_or(usize::MAX);
                    let slot = answers
                        .get_mut(i)
                        .ok_or_else(|| engine("a read answered for no query"))?;
                    slot.push((r.get(1), r.get(2)));
                }
                // A branch's order is its own: kept by the server, made sure of here.
                for (a, q) in answers.iter_mut().zip(&all) {
                    a.sort_by(|x, y| x.0.cmp(&y.0));
                    if q.reverse {
                        a.reverse();
                    }
                }
                answers
            };
            let mut out: Vec<Vec<Entry>> = wanted.iter().map(|_| Vec::new()).collect();
            for ((_, range), rows) in queries.iter().zip(answers) {
                if range.len() == 1 && wanted[range.start].is_none() {
                    out[range.start] = rows;
                    continue;
                }
                let found: HashMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
                for i in range.clone() {
                    if let Some((k, v)) = wanted[i].as_ref().and_then(|k| found.get_key_value(k)) {
                        out[i].push((k.clone(), v.clone()));
                    }
                }
            }
            Ok(out)
        })
    }

    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let reads: Vec<super::Read<'_>> = keys.iter().map(|k| super::Read::Get(table, k)).collect();
        Ok(self
            .read_all(&reads)?
            .into_iter()
            .map(super::value)
            .collect())
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
                .block(c.client.query_one("SELECT pg_is_in_recovery()", &[]))
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
