//! One transaction per mutation, nesting as savepoints.
//!
//! A mutation run at top level opens `BEGIN IMMEDIATE` (so the write lock is taken up front and a
//! busy database fails before any work, not half way). Inside a caller's transaction (the Board
//! writing many columns, or a KVault and a ColumnVault sharing one connection) the same mutation
//! becomes a savepoint, so a failure undoes exactly that mutation and the caller decides the rest.

use crate::error::Result;
use rusqlite::Connection;

/// Transaction control through the statement cache: a single append is a handful of tiny
/// statements, and re-parsing BEGIN / COMMIT each time was a visible part of its cost.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

pub fn write_tx<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if conn.is_autocommit() {
        run(conn, "BEGIN IMMEDIATE")?;
        match f(conn) {
            Ok(v) => match run(conn, "COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = run(conn, "ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = run(conn, "ROLLBACK");
                Err(e)
            }
        }
    } else {
        run(conn, "SAVEPOINT ambervault_col")?;
        match f(conn) {
            Ok(v) => {
                run(conn, "RELEASE ambervault_col")?;
                Ok(v)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO ambervault_col; RELEASE ambervault_col");
                Err(e)
            }
        }
    }
}

/// A read that must see one consistent snapshot (length and chunks from the same moment, even
/// while another connection appends).
pub fn read_tx<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if conn.is_autocommit() {
        run(conn, "BEGIN DEFERRED")?;
        let r = f(conn);
        let _ = run(conn, "COMMIT");
        r
    } else {
        f(conn)
    }
}
