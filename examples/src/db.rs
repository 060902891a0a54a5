//! The embedded SQLite database, seeded at start.

use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use treebeard::metrics::conventions::database;
use treebeard::metrics::{Histogram, Timed, collector};

/// A user as the API returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Usage profile: `high-usage`, `casual` or `new`.
    pub profile_type: String,
    /// Topics the user follows.
    pub interests: Vec<String>,
}

/// A shared connection to an in-memory database.
///
/// Queries are short, so a mutex around one connection beats a pool here.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    /// `database.query.duration` of [`Db::user`], registered on the first
    /// query (after `treebeard::init` installed the recorder) and kept: a
    /// hot path need not build the name and tags each time.
    user_query_duration: Arc<OnceLock<Histogram>>,
}

/// Seed users: id, name, email (stored, never returned), profile, interests.
const SEED: &[(i64, &str, &str, &str, &str)] = &[
    (
        1,
        "Ada",
        "ada@example.com",
        "high-usage",
        "rust,databases,observability",
    ),
    (
        2,
        "Brendan",
        "brendan@example.com",
        "casual",
        "javascript,music",
    ),
    (
        3,
        "Grace",
        "grace@example.com",
        "high-usage",
        "compilers,observability,hiking",
    ),
    (4, "Linus", "linus@example.com", "new", "kernels,diving"),
    (
        5,
        "Margaret",
        "margaret@example.com",
        "casual",
        "space,databases",
    ),
];

const SELECT_USER: &str = "SELECT id, name, profile_type, interests FROM users WHERE id = ?1";

/// Errors from the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A previous query panicked while holding the connection.
    #[error("database connection is poisoned")]
    Poisoned,
}

impl Db {
    /// Opens an in-memory database and seeds it.
    pub fn open_seeded() -> Result<Self, DbError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                email TEXT NOT NULL,
                profile_type TEXT NOT NULL,
                interests TEXT NOT NULL
            );",
        )?;
        {
            let mut insert = conn.prepare(
                "INSERT INTO users (id, name, email, profile_type, interests) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for row in SEED {
                insert.execute(*row)?;
            }
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            user_query_duration: Arc::default(),
        })
    }

    /// The user with `id`, if any: a `sqlite.query` span and a
    /// `database.query.duration` measurement.
    pub fn user(&self, id: i64) -> Result<Option<User>, DbError> {
        let duration = self.user_query_duration.get_or_init(|| {
            let tags = [("table", "users"), ("query", "user_by_id")];
            collector().histogram_handle(database::QUERY_DURATION, &tags)
        });
        treebeard::apm::database_query("select_user", "users", "sqlite", SELECT_USER).in_scope(
            || {
                let _timer = Timed::start(duration.clone());
                self.query_user(id)
            },
        )
    }

    fn query_user(&self, id: i64) -> Result<Option<User>, DbError> {
        let conn = self.conn.lock().map_err(|_| DbError::Poisoned)?;
        let mut stmt = conn.prepare_cached(SELECT_USER)?;
        let user = stmt
            .query_row([id], |row| {
                let interests: String = row.get(3)?;
                Ok(User {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    profile_type: row.get(2)?,
                    interests: interests.split(',').map(str::to_owned).collect(),
                })
            })
            .optional()?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_users_are_found() {
        let db = Db::open_seeded().unwrap();
        assert_eq!(db.user(1).unwrap().unwrap().name, "Ada");
        assert!(db.user(999).unwrap().is_none());
    }
}
