//! A private PostgreSQL cluster in Relais's data directory, for when `DATABASE_URL` is not set.
//!
//! It uses the system's `initdb`/`pg_ctl`, listens only on a Unix socket inside its own directory
//! (no TCP port), is reused on the next start and stopped by [`EmbeddedPostgres::stop`].
//! PostgreSQL refuses to run as root, so when Relais runs as root the cluster runs as an
//! unprivileged system user (`postgres` if present, else a `relais-pg` user created for it).
//!
//! Local connections use `trust` authentication; what guards them is the socket directory,
//! mode 0700 and owned by the cluster's user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

pub const SUPERUSER: &str = "relais_super";
pub const OWNER_ROLE: &str = "relais_owner";
pub const APP_ROLE: &str = "relais_app";
/// The platform admin path's role (`Db::platform_admin`): NOLOGIN; the schema owner sets it.
pub const ADMIN_ROLE: &str = "relais_admin";
const SOCKET_PORT: u16 = 5432;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under /usr/lib/postgresql/*/bin.\n\
         Install them with:  sudo apt-get install -y postgresql\n\
         or point DATABASE_URL and RELAIS_APP_DATABASE_URL at an existing server."
    )]
    BinariesMissing,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{command} failed ({status}); see {log}")]
    CommandFailed { command: String, status: String, log: String },
    #[error("preparing the embedded database: {0}")]
    Sql(#[from] sqlx::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedError {
    let what = what.into();
    move |source| EmbeddedError::Io { what, source }
}

/// How much durability to trade for speed. Tests throw their databases away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Disposable,
}

#[derive(Debug, Clone)]
struct SystemUser {
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<SystemUser>,
    durability: Durability,
}

impl EmbeddedPostgres {
    /// Locates binaries and decides where the cluster lives under `data_dir`. Creates nothing yet.
    pub fn new(data_dir: &Path, durability: Durability) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesMissing)?;
        fs::create_dir_all(data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
        let data_dir = data_dir.canonicalize().map_err(io(format!("resolving {}", data_dir.display())))?;
        let run_as = if nix::unistd::geteuid().is_root() { Some(unprivileged_user()?) } else { None };
        let root = match &run_as {
            // The cluster's user must be able to reach its directory. Under a private home
            // (e.g. /root, mode 0700) it cannot, so the cluster moves to a directory of its own.
            Some(_) if !world_traversable(&data_dir) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
                let root = PathBuf::from("/var/lib/relais").join(format!("pg-{}", hex::encode(&digest[..6])));
                fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
                fs::write(data_dir.join("postgres-location.txt"), format!("{}\n", root.display()))
                    .map_err(io("writing postgres-location.txt"))?;
                root
            }
            _ => data_dir.join("postgres"),
        };
        Ok(Self { root, bin_dir, run_as, durability })
    }

    pub fn data_path(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// Initializes the cluster if needed and starts it if it is not running. Blocking; several
    /// processes may call it at once (test runners do): a lock file serializes them.
    pub fn ensure_running(&self) -> Result<(), EmbeddedError> {
        fs::create_dir_all(&self.root).map_err(io(format!("creating {}", self.root.display())))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))
            .map_err(io("opening the cluster lock"))?;
        lock.lock().map_err(io("locking the cluster"))?;

        if !self.data_path().join("PG_VERSION").exists() {
            self.init()?;
        }
        if !self.is_running() {
            self.start()?;
        }
        drop(lock);
        Ok(())
    }

    fn owned_dir(&self, path: &Path) -> Result<(), EmbeddedError> {
        fs::create_dir_all(path).map_err(io(format!("creating {}", path.display())))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(io(format!("chmod {}", path.display())))?;
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(io(format!("chown {}", path.display())))?;
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        for var in ["PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"] {
            command.env_remove(var);
        }
        if let Some(user) = &self.run_as {
            command.uid(user.uid).gid(user.gid).current_dir(&self.root);
        }
        command
    }

    fn run(&self, mut command: Command, name: &str) -> Result<(), EmbeddedError> {
        let output = command.output().map_err(io(format!("running {name}")))?;
        if output.status.success() {
            return Ok(());
        }
        let log = self.root.join(format!("{name}.log"));
        let _ = fs::write(&log, [output.stdout, output.stderr].concat());
        Err(EmbeddedError::CommandFailed {
            command: name.into(),
            status: output.status.to_string(),
            log: log.display().to_string(),
        })
    }

    fn init(&self) -> Result<(), EmbeddedError> {
        self.owned_dir(&self.root)?;
        self.owned_dir(&self.data_path())?;
        let mut initdb = self.command("initdb");
        initdb
            .arg("--pgdata")
            .arg(self.data_path())
            .args(["--username", SUPERUSER, "--auth-local=trust", "--auth-host=reject"])
            .args(["--encoding=UTF8", "--locale=C.UTF-8"]);
        if self.durability == Durability::Disposable {
            initdb.arg("--no-sync");
        }
        self.run(initdb, "initdb")
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("--pgdata")
            .arg(self.data_path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn start(&self) -> Result<(), EmbeddedError> {
        self.owned_dir(&self.socket_dir())?;
        let mut options = format!(
            "-c listen_addresses='' -k {} -p {SOCKET_PORT} -c unix_socket_permissions=0700 -c max_connections=300",
            self.socket_dir().display()
        );
        if self.durability == Durability::Disposable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB");
        }
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl
            .arg("start")
            .arg("--pgdata")
            .arg(self.data_path())
            .arg("--log")
            .arg(self.log_path())
            .args(["--wait", "--timeout=120", "--silent"])
            .arg("-o")
            .arg(options);
        self.run(pg_ctl, "pg_ctl-start")
    }

    /// Stops the cluster (fast shutdown: ongoing transactions roll back, data is safe).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        if !self.is_running() {
            return Ok(());
        }
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.arg("stop").arg("--pgdata").arg(self.data_path()).args(["--mode=fast", "--wait", "--silent"]);
        self.run(pg_ctl, "pg_ctl-stop")
    }

    pub fn connect_options(&self, user: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(self.socket_dir()).port(SOCKET_PORT).username(user).database(database)
    }

    /// Creates the roles (once per cluster) and `database` owned by the schema owner. The request
    /// role `relais_app` is created without SUPERUSER, BYPASSRLS, CREATEDB or CREATEROLE; the
    /// backoffice's `relais_admin` cannot log in (the schema owner sets it, `Db::platform_admin`).
    pub async fn bootstrap(&self, database: &str) -> Result<(), EmbeddedError> {
        let mut conn = self.connect_options(SUPERUSER, "postgres").connect().await?;
        // Serialize with other processes bootstrapping the same cluster.
        conn.execute("select pg_advisory_lock(7243001)").await?;
        let result = bootstrap_roles_and_db(&mut conn, database).await;
        conn.execute("select pg_advisory_unlock(7243001)").await?;
        conn.close().await?;
        result
    }
}

async fn bootstrap_roles_and_db(conn: &mut sqlx::PgConnection, database: &str) -> Result<(), EmbeddedError> {
    conn.execute(
        "do $$ begin
           if not exists (select from pg_roles where rolname = 'relais_platform') then
             create role relais_platform nologin;
           end if;
           if not exists (select from pg_roles where rolname = 'relais_app') then
             create role relais_app login nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
           end if;
           if not exists (select from pg_roles where rolname = 'relais_owner') then
             create role relais_owner login nosuperuser nobypassrls nocreatedb nocreaterole inherit;
           end if;
           if not exists (select from pg_roles where rolname = 'relais_admin') then
             create role relais_admin nologin nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
           end if;
         end $$;
         grant relais_platform to relais_owner;
         grant relais_admin to relais_owner;",
    )
    .await?;
    let exists: bool =
        sqlx::query_scalar!("select exists (select from pg_database where datname = $1) as \"exists!\"", database)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        create_database(conn, database, None).await?;
    }
    Ok(())
}

/// `CREATE DATABASE name OWNER relais_owner [TEMPLATE template]`. Names are checked to be plain
/// identifiers because DDL cannot take bind parameters.
pub async fn create_database(
    conn: &mut sqlx::PgConnection,
    name: &str,
    template: Option<&str>,
) -> Result<(), sqlx::Error> {
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !plain(name) || !template.is_none_or(plain) {
        return Err(sqlx::Error::Protocol(format!("refusing database name {name:?}")));
    }
    let template = template.map(|t| format!(" template {t}")).unwrap_or_default();
    let sql = format!("create database {name} owner {OWNER_ROLE}{template}");
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    Ok(())
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_tools =
        |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() && dir.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let pg_ctl = dir.join("pg_ctl");
            if let Ok(real) = pg_ctl.canonicalize()
                && let Some(real_dir) = real.parent()
                && has_tools(real_dir)
            {
                return Some(real_dir.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn world_traversable(dir: &Path) -> bool {
    dir.ancestors().all(|d| fs::metadata(d).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false))
}

fn unprivileged_user() -> Result<SystemUser, EmbeddedError> {
    let lookup = |name: &str| nix::unistd::User::from_name(name).ok().flatten();
    let user = match lookup("postgres").or_else(|| lookup("relais-pg")) {
        Some(user) => user,
        None => {
            let status = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "relais-pg"])
                .status()
                .map_err(io("running useradd to create the relais-pg user"))?;
            if !status.success() {
                return Err(EmbeddedError::CommandFailed {
                    command: "useradd relais-pg".into(),
                    status: status.to_string(),
                    log: "stderr".into(),
                });
            }
            lookup("relais-pg").ok_or(EmbeddedError::CommandFailed {
                command: "useradd relais-pg".into(),
                status: "user missing after creation".into(),
                log: "/etc/passwd".into(),
            })?
        }
    };
    Ok(SystemUser { uid: user.uid.as_raw(), gid: user.gid.as_raw() })
}
