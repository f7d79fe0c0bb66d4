//! The database: one schema and (where possible) the same SQL for SQLite and Postgres, reached
//! through sqlx's `Any` driver. Every call first consults the shared simulated outage.
//!
//! Writes are single statements so that SQLite, shared by the API and the worker processes in WAL
//! mode, never has to upgrade a read transaction to a write one (which fails without waiting).

mod events;
mod runs;
pub use runs::{QueueCounts, UNDISPATCHED};
mod schema;
mod workers;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use events::StoredEvent;
pub use workers::{WorkerRecord, WorkerState};

use crate::outage::DbOutage;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

impl Backend {
    /// The backend for a database URL.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl {
                url: crate::config::redact_url_password(url),
            })
        }
    }
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The simulated outage is in force.
    #[error("database unavailable (simulated outage, {remaining_ms} ms left)")]
    Outage {
        /// Milliseconds until the outage ends.
        remaining_ms: u64,
    },
    /// The URL is neither SQLite nor Postgres.
    #[error("unsupported --database URL {url:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl {
        /// The URL, password redacted.
        url: String,
    },
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// A row held a value the schema does not allow.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error means the database is unreachable (as opposed to a bad query).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Outage { .. } => true,
            StoreError::Sql(err) => {
                matches!(
                    err,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::WorkerCrashed
                ) || is_busy(err)
            }
            StoreError::UnsupportedUrl { .. } | StoreError::Corrupt(_) => false,
        }
    }
}

fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message();
            message.contains("database is locked") || message.contains("busy")
        }
        _ => false,
    }
}

/// A connection pool plus the shared outage switch.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    outage: DbOutage,
    backend: Backend,
}

impl Store {
    /// Connect to `url` (creating an SQLite file if needed) and make sure the schema exists.
    pub async fn open(url: &str, outage: DbOutage) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        install_default_drivers();
        let mut options = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        let store = Store {
            pool,
            outage,
            backend,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Create the tables and indexes if they are missing.
    async fn migrate(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await?;
        }
        for statement in schema::STATEMENTS {
            // Two processes may race to create the same object on Postgres; one retry settles it.
            if let Err(first) = sqlx::query(statement).execute(&self.pool).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
                sqlx::query(statement)
                    .execute(&self.pool)
                    .await
                    .map_err(|_| first)?;
            }
        }
        Ok(())
    }

    /// Fail with [`StoreError::Outage`] while the simulated outage lasts.
    fn guard(&self) -> Result<(), StoreError> {
        match self.outage.remaining_ms() {
            Some(remaining_ms) => Err(StoreError::Outage { remaining_ms }),
            None => Ok(()),
        }
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.guard()?;
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_urls() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql://u:***@h/db"), "{err}");
    }
}
