using System;
using System.Data;
using System.Data.Common;
using System.IO;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TinyMlops.Registry;

/// <summary>
/// Where a registry lives and what differs between the two databases it can live in: SQLite (one file in a folder,
/// the default) or PostgreSQL (the shared store several trainer instances use). The registry's SQL is otherwise the
/// same in both: <c>ON CONFLICT</c>, <c>RETURNING</c>, and insertion order kept in a column of its own.
/// </summary>
internal abstract class RegistryStore
{
    private const string Tables = """
        CREATE TABLE IF NOT EXISTS models (version TEXT PRIMARY KEY, board TEXT NOT NULL, board_class INTEGER NOT NULL, number INTEGER NOT NULL,
          dataset_hash TEXT NOT NULL, code_version TEXT NOT NULL, parent TEXT, registered TEXT NOT NULL, UNIQUE (board, number));
        CREATE TABLE IF NOT EXISTS model_artifacts (version TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, size BIGINT NOT NULL,
          sha256 TEXT NOT NULL{order}, PRIMARY KEY (version, name));
        CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, content {blob} NOT NULL);
        CREATE TABLE IF NOT EXISTS aliases (board_class INTEGER NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL, set_at TEXT NOT NULL,
          reason TEXT NOT NULL{order}, PRIMARY KEY (board_class, alias));
        CREATE TABLE IF NOT EXISTS alias_history (board_class INTEGER NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL, set_at TEXT NOT NULL, reason TEXT NOT NULL{order});
        CREATE TABLE IF NOT EXISTS evaluations (version TEXT NOT NULL, dataset_hash TEXT NOT NULL, figures TEXT NOT NULL, PRIMARY KEY (version, dataset_hash));
        CREATE TABLE IF NOT EXISTS releases (board_class INTEGER NOT NULL, sequence BIGINT NOT NULL, version TEXT NOT NULL, created TEXT NOT NULL,
          forced_reason TEXT, document {blob} NOT NULL, PRIMARY KEY (board_class, sequence));
        CREATE TABLE IF NOT EXISTS release_artifacts (board_class INTEGER NOT NULL, sequence BIGINT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (board_class, sequence, sha256));
        CREATE TABLE IF NOT EXISTS release_status (gateway TEXT NOT NULL, board_class INTEGER NOT NULL, sequence BIGINT NOT NULL, step TEXT NOT NULL,
          detail TEXT NOT NULL, at TEXT NOT NULL{order});
        CREATE TABLE IF NOT EXISTS rollouts ({id}, board_class INTEGER NOT NULL, sequence BIGINT NOT NULL, version TEXT NOT NULL,
          groups TEXT NOT NULL, success_threshold {real} NOT NULL, abort_failure_rate {real} NOT NULL, state TEXT NOT NULL, current_group INTEGER NOT NULL,
          created TEXT NOT NULL, updated TEXT NOT NULL, reason TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS rollout_nodes (rollout BIGINT NOT NULL, node TEXT NOT NULL, gateway TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
          last_error TEXT, updated TEXT NOT NULL, PRIMARY KEY (rollout, node));
        CREATE TABLE IF NOT EXISTS gateway_boards (gateway TEXT NOT NULL, board_class INTEGER NOT NULL, PRIMARY KEY (gateway, board_class));
        CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, board TEXT NOT NULL, board_class INTEGER NOT NULL, gateway TEXT, site TEXT,
          key_id TEXT NOT NULL, registered TEXT NOT NULL);
        """;

    /// <summary>Where it is, for messages (a PostgreSQL password is left out).</summary>
    public abstract string Location { get; }

    /// <summary>The column that orders a table's rows as they were inserted.</summary>
    public abstract string InsertionOrder { get; }

    /// <summary>
    /// A store for <paramref name="location"/>: a PostgreSQL connection string (<c>Host=…;Database=…</c>) or URL
    /// (<c>postgresql://user@host:port/db</c>), else a registry folder for SQLite.
    /// </summary>
    public static RegistryStore For(string location) =>
        location.StartsWith("postgresql://", StringComparison.Ordinal) || location.StartsWith("postgres://", StringComparison.Ordinal) || location.Contains("Host=", StringComparison.OrdinalIgnoreCase)
            ? new PostgresStore(location)
            : new SqliteStore(location);

    /// <summary>Opens a connection with the schema in place; a store that is not a registry is an <see cref="InvalidDataException"/>.</summary>
    public abstract DbConnection Open();

    /// <summary>
    /// A transaction that writes, serialised against every other writer of the store (other processes and trainer
    /// instances included), so a sequence read and then allocated inside it cannot be taken twice.
    /// </summary>
    public abstract DbTransaction BeginWrite(DbConnection db);

    protected string Schema(string blob, string id, string real, string order) =>
        Tables.Replace("{blob}", blob, StringComparison.Ordinal).Replace("{id}", id, StringComparison.Ordinal)
            .Replace("{real}", real, StringComparison.Ordinal).Replace("{order}", order, StringComparison.Ordinal);

    private sealed class SqliteStore(string directory) : RegistryStore
    {
        private string File => Path.Combine(directory, ModelRegistry.DatabaseFile);

        public override string Location => directory;

        public override string InsertionOrder => "rowid";

        public override DbConnection Open()
        {
            Directory.CreateDirectory(directory);
            var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = File, Pooling = false, DefaultTimeout = 30 }.ToString());
            try
            {
                db.Open();
                using (SqliteCommand probe = db.CreateCommand())
                {
                    probe.CommandText = "PRAGMA quick_check;"; // reads every page: a file that is not a database, or a damaged one, fails here
                    if (probe.ExecuteScalar() is not "ok")
                    {
                        throw new InvalidDataException($"{File} is damaged (SQLite quick_check failed)");
                    }
                }

                using SqliteCommand c = db.CreateCommand();
                c.CommandText = "PRAGMA busy_timeout=30000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;\n" + Schema("BLOB", "id INTEGER PRIMARY KEY", "REAL", "");
                c.ExecuteNonQuery();
                return db;
            }
            catch (SqliteException e)
            {
                db.Dispose();
                throw new InvalidDataException($"{File} is not a readable model registry: {e.Message}", e);
            }
            catch (InvalidDataException)
            {
                db.Dispose();
                throw;
            }
        }

        // BEGIN IMMEDIATE: the write lock is taken at the start, not at the first write.
        public override DbTransaction BeginWrite(DbConnection db) => ((SqliteConnection)db).BeginTransaction(deferred: false);
    }

    private sealed class PostgresStore : RegistryStore
    {
        // One advisory lock for every registry writer: what BEGIN IMMEDIATE is to SQLite.
        private const long WriterLock = 0x746D6C6F7073; // "tmlops"
        private readonly string _connection;

        public PostgresStore(string location)
        {
            var b = new NpgsqlConnectionStringBuilder(location.Contains("://", StringComparison.Ordinal) ? FromUrl(location) : location) { Pooling = false };
            _connection = b.ToString();
            Location = $"postgresql://{b.Username}@{b.Host}:{b.Port}/{b.Database}";
        }

        public override string Location { get; }

        public override string InsertionOrder => "row_id";

        public override DbConnection Open()
        {
            var db = new NpgsqlConnection(_connection);
            try
            {
                db.Open();
                using DbTransaction t = BeginWrite(db); // two instances starting at once must not both create the tables
                using NpgsqlCommand c = db.CreateCommand();
                c.Transaction = (NpgsqlTransaction)t;
                c.CommandText = Schema("BYTEA", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "DOUBLE PRECISION", ", row_id BIGINT GENERATED ALWAYS AS IDENTITY");
                c.ExecuteNonQuery();
                t.Commit();
                return db;
            }
            catch (Exception e) when (e is NpgsqlException or PostgresException)
            {
                db.Dispose();
                throw new InvalidDataException($"{Location} is not a usable model registry: {e.Message}", e);
            }
        }

        public override DbTransaction BeginWrite(DbConnection db)
        {
            DbTransaction t = db.BeginTransaction(IsolationLevel.ReadCommitted);
            using DbCommand c = db.CreateCommand();
            c.Transaction = t;
            c.CommandText = $"SELECT pg_advisory_xact_lock({WriterLock});";
            c.ExecuteNonQuery();
            return t;
        }

        private static string FromUrl(string url)
        {
            var u = new Uri(url);
            var b = new NpgsqlConnectionStringBuilder { Host = u.Host, Port = u.Port > 0 ? u.Port : 5432, Database = u.AbsolutePath.Trim('/') };
            if (u.UserInfo.Length > 0)
            {
                string[] p = u.UserInfo.Split(':', 2);
                b.Username = Uri.UnescapeDataString(p[0]);
                if (p.Length == 2)
                {
                    b.Password = Uri.UnescapeDataString(p[1]);
                }
            }

            return b.ToString();
        }
    }
}
