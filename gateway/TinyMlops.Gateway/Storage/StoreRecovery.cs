using System;
using System.Globalization;
using System.IO;
using Microsoft.Data.Sqlite;

namespace TinyMlops.Gateway.Storage;

/// <summary>
/// What the start-up check of the store found: the damage SQLite reported, where the damaged file was put, and how
/// many rows were copied into the new one. The gateway logs it, shows it in <c>/health</c> and counts it in the
/// metrics; it never restarts in a loop over a damaged file.
/// </summary>
/// <param name="Problem">What SQLite said (open error or <c>quick_check</c> finding).</param>
/// <param name="DamagedPath">Where the damaged file now is.</param>
/// <param name="EventsRecovered">Event rows copied into the new store.</param>
/// <param name="RowsLost">Rows that could not be read (a lower bound: a damaged page may hide more).</param>
public sealed record StoreRecovery(string Problem, string DamagedPath, long EventsRecovered, long RowsLost)
{
    private const int SqliteCorrupt = 11;
    private const int SqliteNotADatabase = 26;

    /// <summary>One line for the log.</summary>
    public override string ToString() =>
        $"the store was damaged ({Problem}); {EventsRecovered} events recovered into a new store, {RowsLost} unreadable rows lost; the damaged file is kept at {DamagedPath}";

    /// <summary>
    /// Checks the store at <paramref name="path"/>; when SQLite finds it damaged, moves it (with its WAL) aside and
    /// copies what is readable into a new file created by <paramref name="createSchema"/>. Null when the file is
    /// missing or sound.
    /// </summary>
    /// <exception cref="InvalidDataException">The file could not be checked or recovered (not damage: permissions, a full disk).</exception>
    internal static StoreRecovery? CheckAndRecover(string path, Action<SqliteConnection> createSchema)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        string? problem = Check(path);
        if (problem == null)
        {
            return null;
        }

        string damaged = path + ".damaged-" + DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        for (int n = 2; File.Exists(damaged) || File.Exists(damaged + "-wal"); n++)
        {
            damaged = path + ".damaged-" + DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + n;
        }

        try
        {
            foreach (string suffix in new[] { "", "-wal", "-shm" })
            {
                if (File.Exists(path + suffix))
                {
                    File.Move(path + suffix, damaged + suffix);
                }
            }

            using SqliteConnection target = GatewayStore.OpenWriter(path);
            createSchema(target);
            (long events, long lost) = Copy(damaged, target);
            return new StoreRecovery(problem, damaged, events, lost);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
        {
            throw new InvalidDataException(
                $"gateway store {path} is damaged ({problem}) and could not be recovered ({e.Message}): free space or fix permissions, or move the file aside, then start again", e);
        }
    }

    // Null when sound; SQLite's words when damaged; other failures (permissions, locks) are not damage and are thrown.
    private static string? Check(string path)
    {
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            db.Open();
            using SqliteCommand c = db.CreateCommand();
            c.CommandText = "PRAGMA quick_check;";
            using SqliteDataReader r = c.ExecuteReader();
            string first = r.Read() ? r.GetString(0) : "no answer";
            return first == "ok" ? null : "quick_check: " + first;
        }
        catch (SqliteException e) when (e.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase)
        {
            return e.Message;
        }
        catch (SqliteException e)
        {
            throw new InvalidDataException($"gateway store {path} cannot be opened ({e.Message}): check the folder's permissions and free space, then start again", e);
        }
    }

    // Copies rows one at a time in rowid order; a row that cannot be read is skipped, and a scan that breaks off
    // resumes after it, so one bad page costs only the rows on it.
    private static (long Events, long Lost) Copy(string damaged, SqliteConnection target)
    {
        long events = 0, lost = 0;
        SqliteConnection source;
        try
        {
            source = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = damaged, Pooling = false }.ToString());
            source.Open();
            using SqliteCommand lenient = source.CreateCommand();
            lenient.CommandText = "PRAGMA writable_schema=ON;"; // read past schema entries that point at lost pages (a truncated file's indexes)
            lenient.ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            return (0, 0); // not even the header is readable: nothing to copy
        }

        using (source)
        {
            events = CopyTable(source, target, "events", "id, node, boot, seq, ts, received, frame, verdict_class, verdict_label, verdict_fault, verdict_probability, verifier_version, verified, label, label_source, forwarded, uplink_error", ref lost);
            CopyTable(source, target, "nodes", "id, last_seen, telemetry", ref lost);
            CopyTable(source, target, "quarantine", "id, node, reason, detail, quarantined, frame", ref lost);
        }

        return (events, lost);
    }

    private static long CopyTable(SqliteConnection source, SqliteConnection target, string table, string columns, ref long lost)
    {
        string[] names = columns.Split(", ");
        string select;
        try
        {
            select = $"SELECT rowid, {ExistingColumns(source, table, names)} FROM {table} WHERE rowid > $after ORDER BY rowid;";
        }
        catch (SqliteException)
        {
            lost++;
            return 0; // the schema itself is unreadable
        }

        long copied = 0, after = long.MinValue;
        int failuresInARow = 0;
        using SqliteTransaction t = target.BeginTransaction();
        using SqliteCommand insert = target.CreateCommand();
        insert.Transaction = t;
        insert.CommandText = $"INSERT OR IGNORE INTO {table}({columns}) VALUES({string.Join(", ", Array.ConvertAll(names, n => "$" + n))});";
        while (failuresInARow < 1_000)
        {
            try
            {
                using SqliteCommand q = source.CreateCommand();
                q.CommandText = select;
                q.Parameters.AddWithValue("$after", after);
                using SqliteDataReader r = q.ExecuteReader();
                while (r.Read())
                {
                    long rowid = r.GetInt64(0);
                    insert.Parameters.Clear();
                    for (int i = 0; i < names.Length; i++)
                    {
                        insert.Parameters.AddWithValue("$" + names[i], r.IsDBNull(i + 1) ? DBNull.Value : r.GetValue(i + 1));
                    }

                    copied += insert.ExecuteNonQuery(); // a row met twice (a scan resumed over a damaged page) counts once
                    after = rowid;
                    failuresInARow = 0;
                }

                break; // the scan reached the end
            }
            catch (SqliteException e) when (e.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase)
            {
                // Step over the row the scan broke on; rowids are dense in this store, so the next one is usually readable.
                lost++;
                failuresInARow++;
                after = after == long.MinValue ? 1 : after + 1;
            }
        }

        t.Commit();
        return copied;
    }

    // An older store may lack columns added since; they are read as NULL.
    private static string ExistingColumns(SqliteConnection source, string table, string[] names)
    {
        using SqliteCommand q = source.CreateCommand();
        q.CommandText = $"SELECT name FROM pragma_table_info('{table}');";
        var present = new System.Collections.Generic.HashSet<string>(StringComparer.Ordinal);
        using (SqliteDataReader r = q.ExecuteReader())
        {
            while (r.Read())
            {
                present.Add(r.GetString(0));
            }
        }

        return string.Join(", ", Array.ConvertAll(names, n => present.Contains(n) ? n : "NULL"));
    }
}
