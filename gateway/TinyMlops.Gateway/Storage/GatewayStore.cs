using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.Data.Sqlite;

namespace TinyMlops.Gateway.Storage;

/// <summary>An event window as stored: the node's frame, as received, is the window.</summary>
/// <param name="Id">Stable id <c>{node}-{boot}-{sequence}</c> (<see cref="MakeId"/>).</param>
/// <param name="Node">Node id.</param>
/// <param name="Boot">The node's boot count (wire header).</param>
/// <param name="Sequence">The node's sequence number within that boot.</param>
/// <param name="TimestampMs">Node clock, Unix ms (0 when unset; not trusted for identity).</param>
/// <param name="ReceivedMs">Gateway clock when stored, Unix ms.</param>
/// <param name="Frame">The wire frame (docs/wire-format.md).</param>
public sealed record StoredEvent(string Id, string Node, uint Boot, uint Sequence, long TimestampMs, long ReceivedMs, byte[] Frame)
{
    /// <summary>
    /// The id an event gets: the same for every redelivery of one window, and different after a reboot because the
    /// node's boot count is part of it (its clock may be unset and its sequence starts again at every boot).
    /// </summary>
    public static string MakeId(string node, uint boot, uint sequence) => Contracts.RecordNames.MakeRecordId(node, boot, sequence);

    /// <summary>
    /// The id of an event whose <see cref="MakeId"/> is already taken by a different frame (a node whose boot count
    /// was lost, e.g. re-flashed): the taken id plus the frame's digest, so it is still the same for its redeliveries.
    /// </summary>
    public static string CollisionId(string id, byte[] frame) =>
        id + "-x" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(frame), 0, 8);
}

/// <summary>A row taken out of the queues because its frame no longer decodes (or could not be forwarded).</summary>
/// <param name="Id">Event id.</param>
/// <param name="Node">Node id.</param>
/// <param name="Reason">Short machine-readable reason (a metric label).</param>
/// <param name="Detail">What was wrong.</param>
/// <param name="QuarantinedMs">Gateway clock, Unix ms.</param>
public sealed record QuarantinedEvent(string Id, string Node, string Reason, string Detail, long QuarantinedMs);

/// <summary>A verifier's answer stored with its event.</summary>
/// <param name="ClassId">Class index.</param>
/// <param name="Label">Class name.</param>
/// <param name="IsFault">True unless healthy.</param>
/// <param name="Probability">Probability of the class.</param>
/// <param name="VerifierVersion">Model version.</param>
/// <param name="VerifiedMs">Gateway clock, Unix ms.</param>
public sealed record StoredVerdict(int ClassId, string Label, bool IsFault, float Probability, long VerifierVersion, long VerifiedMs);

/// <summary>Queue lengths of the store.</summary>
/// <param name="Events">Events stored.</param>
/// <param name="ToVerify">Waiting for a verdict.</param>
/// <param name="ToForward">Verified, waiting for the trainer.</param>
/// <param name="Refused">Refused by the trainer, held with its reason until relabelled.</param>
/// <param name="Quarantined">Taken out because their frame no longer decodes.</param>
public sealed record StoreCounts(long Events, long ToVerify, long ToForward, long Refused, long Quarantined);

/// <summary>What happened to an event handed to <see cref="GatewayStore.AddEventAsync"/>.</summary>
public enum AddResult
{
    /// <summary>Stored (committed to disk).</summary>
    Added,

    /// <summary>Already stored with the same bytes: a redelivery, harmless.</summary>
    Duplicate,

    /// <summary>
    /// Nothing stored: the id is taken by a different frame, so this is a new event whose id collides (store it
    /// again under <see cref="StoredEvent.CollisionId"/>).
    /// </summary>
    Collision,
}

/// <summary>The disk (or the store's configured size limit) is full: nothing was stored.</summary>
public sealed class StorageFullException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// The gateway's store and forward queue: SQLite in WAL mode with <c>synchronous=FULL</c>, so an event is on disk
/// before the node is acknowledged. Events arriving together are committed in one transaction (group commit).
/// Verdicts and forwarded marks are committed without their own fsync (<c>synchronous=NORMAL</c>): they reach the
/// disk with the next event commit, and if power fails first they are simply worked out again (the event is verified
/// again, the record sent again and recognised by the trainer). Thread-safe: one writing connection under a lock,
/// and a second connection for reads, which WAL lets run beside the writer so a query never delays an acknowledgement.
/// </summary>
public sealed class GatewayStore : IAsyncDisposable
{
    private const int SqliteFull = 13;
    private readonly SqliteConnection _db;
    private readonly SqliteConnection _read;
    private readonly object _gate = new();
    private readonly object _readGate = new();
    private readonly Channel<(StoredEvent Event, TaskCompletionSource<AddResult> Done)> _writes =
        Channel.CreateUnbounded<(StoredEvent, TaskCompletionSource<AddResult>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private volatile bool _full;

    /// <summary>
    /// Opens (or creates) the store at <paramref name="path"/>; <paramref name="maxPageCount"/> &gt; 0 caps its size
    /// (pages of 4 KiB). An existing file is checked first (SQLite's <c>quick_check</c>); a damaged one is moved aside
    /// (<c>gateway.db.damaged-{time}</c>), what can still be read is copied into a new file, and
    /// <see cref="Recovery"/> says what happened.
    /// </summary>
    /// <exception cref="InvalidDataException">The store cannot be opened or recovered; the message says what to do.</exception>
    public GatewayStore(string path, long maxPageCount = 0)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        Recovery = StoreRecovery.CheckAndRecover(full, CreateSchema);
        try
        {
            _db = OpenWriter(full);
            if (maxPageCount > 0)
            {
                Execute($"PRAGMA max_page_count={maxPageCount};");
            }

            CreateSchema(_db);
            _read = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
            _read.Open();
        }
        catch (SqliteException e)
        {
            throw new InvalidDataException($"gateway store {full} cannot be opened ({e.Message}): check the folder's permissions and free space, then start again", e);
        }

        _writer = Task.Run(WriteLoop);
    }

    /// <summary>What the start-up check found and did, or null when the file was sound (or new).</summary>
    public StoreRecovery? Recovery { get; }

    internal static SqliteConnection OpenWriter(string path)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        db.Open();
        using SqliteCommand c = db.CreateCommand();
        c.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;";
        c.ExecuteNonQuery();
        return db;
    }

    internal static void CreateSchema(SqliteConnection db)
    {
        using SqliteCommand c = db.CreateCommand();
        c.CommandText = """
            CREATE TABLE IF NOT EXISTS events (
              id TEXT PRIMARY KEY,
              node TEXT NOT NULL,
              seq INTEGER NOT NULL,
              ts INTEGER NOT NULL,
              received INTEGER NOT NULL,
              frame BLOB NOT NULL,
              verdict_class INTEGER, verdict_label TEXT, verdict_fault INTEGER, verdict_probability REAL,
              verifier_version INTEGER, verified INTEGER,
              label TEXT, label_source TEXT,
              forwarded INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, telemetry BLOB);
            CREATE TABLE IF NOT EXISTS quarantine (id TEXT PRIMARY KEY, node TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
              quarantined INTEGER NOT NULL, frame BLOB);
            """;
        c.ExecuteNonQuery();

        // Columns added after the first release: a store written by an older gateway gains them in place.
        AddColumn(db, "events", "boot", "INTEGER NOT NULL DEFAULT 0");
        AddColumn(db, "events", "uplink_error", "TEXT");
        c.CommandText = """
            CREATE INDEX IF NOT EXISTS events_to_verify ON events(received) WHERE verdict_class IS NULL;
            DROP INDEX IF EXISTS events_to_forward;
            CREATE INDEX IF NOT EXISTS events_to_send ON events(received) WHERE verdict_class IS NOT NULL AND forwarded = 0 AND uplink_error IS NULL;
            CREATE INDEX IF NOT EXISTS events_refused ON events(received) WHERE uplink_error IS NOT NULL;
            CREATE INDEX IF NOT EXISTS events_forwarded ON events(received) WHERE forwarded = 1;
            """;
        c.ExecuteNonQuery();
    }

    private static void AddColumn(SqliteConnection db, string table, string column, string declaration)
    {
        using SqliteCommand q = db.CreateCommand();
        q.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}';";
        if ((long)q.ExecuteScalar()! == 0)
        {
            q.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {declaration};";
            q.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// True after a write failed for lack of space, until an event is stored again. Smaller writes
    /// (verdicts, marks, node rows) can still fit in a full file, so their success proves nothing for the nodes.
    /// </summary>
    public bool IsFull => _full;

    /// <summary>Stores <paramref name="e"/>; completes once it is committed. Throws <see cref="StorageFullException"/> when the disk is full.</summary>
    public Task<AddResult> AddEventAsync(StoredEvent e)
    {
        var done = new TaskCompletionSource<AddResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_writes.Writer.TryWrite((e, done)))
        {
            done.SetException(new ObjectDisposedException(nameof(GatewayStore)));
        }

        return done.Task;
    }

    /// <summary>Records node <paramref name="node"/> as seen, with its last telemetry frame if any.</summary>
    public void TouchNode(string node, long nowMs, byte[]? telemetry)
    {
        Write(() =>
        {
            using SqliteCommand c = Command("INSERT INTO nodes(id, last_seen, telemetry) VALUES($id, $t, $tel) ON CONFLICT(id) DO UPDATE SET last_seen = $t, telemetry = COALESCE($tel, telemetry);");
            c.Parameters.AddWithValue("$id", node);
            c.Parameters.AddWithValue("$t", nowMs);
            c.Parameters.AddWithValue("$tel", (object?)telemetry ?? DBNull.Value);
            c.ExecuteNonQuery();
        });
    }

    /// <summary>Events without a verdict, oldest first (after a restart: what was stored but not yet verified).</summary>
    public List<StoredEvent> PendingVerification(int max)
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("SELECT id, node, boot, seq, ts, received, frame FROM events WHERE verdict_class IS NULL ORDER BY received LIMIT $max;");
            c.Parameters.AddWithValue("$max", max);
            return ReadEvents(c);
        }
    }

    /// <summary>Stores verdicts for several events in one transaction.</summary>
    public void SaveVerdicts(IReadOnlyList<(string EventId, StoredVerdict Verdict)> verdicts)
    {
        WriteRecomputable(() =>
        {
            using SqliteTransaction t = _db.BeginTransaction();
            foreach ((string id, StoredVerdict v) in verdicts)
            {
                using SqliteCommand c = Command("UPDATE events SET verdict_class=$c, verdict_label=$l, verdict_fault=$f, verdict_probability=$p, verifier_version=$v, verified=$t WHERE id=$id;");
                c.Transaction = t;
                c.Parameters.AddWithValue("$c", v.ClassId);
                c.Parameters.AddWithValue("$l", v.Label);
                c.Parameters.AddWithValue("$f", v.IsFault ? 1 : 0);
                c.Parameters.AddWithValue("$p", v.Probability);
                c.Parameters.AddWithValue("$v", v.VerifierVersion);
                c.Parameters.AddWithValue("$t", v.VerifiedMs);
                c.Parameters.AddWithValue("$id", id);
                c.ExecuteNonQuery();
            }

            t.Commit();
        });
    }

    /// <summary>Records an operator's label for an event (sent up again with it). False when the event is unknown.</summary>
    public bool SetLabel(string eventId, string label, string source)
    {
        int changed = 0;
        Write(() =>
        {
            using SqliteCommand c = Command("UPDATE events SET label=$l, label_source=$s, forwarded=0, uplink_error=NULL WHERE id=$id;");
            c.Parameters.AddWithValue("$l", label);
            c.Parameters.AddWithValue("$s", source);
            c.Parameters.AddWithValue("$id", eventId);
            changed = c.ExecuteNonQuery();
        });
        return changed > 0;
    }

    /// <summary>Verified events not yet acknowledged by the trainer (and not refused by it), oldest first.</summary>
    public List<(StoredEvent Event, StoredVerdict Verdict, string? Label)> PendingUplink(int max)
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("""
                SELECT id, node, boot, seq, ts, received, frame, verdict_class, verdict_label, verdict_fault, verdict_probability, verifier_version, verified, label
                FROM events WHERE verdict_class IS NOT NULL AND forwarded = 0 AND uplink_error IS NULL ORDER BY received LIMIT $max;
                """);
            c.Parameters.AddWithValue("$max", max);
            return ReadVerified(c);
        }
    }

    private static List<(StoredEvent, StoredVerdict, string?)> ReadVerified(SqliteCommand c)
    {
        var list = new List<(StoredEvent, StoredVerdict, string?)>();
        using SqliteDataReader r = c.ExecuteReader();
        while (r.Read())
        {
            list.Add((ReadEvent(r), new StoredVerdict(r.GetInt32(7), r.GetString(8), r.GetInt32(9) != 0, r.GetFloat(10), r.GetInt64(11), r.GetInt64(12)), r.IsDBNull(13) ? null : r.GetString(13)));
        }

        return list;
    }

    /// <summary>The newest <paramref name="max"/> verified events with their verdict and operator label: a new verifier's shadow set.</summary>
    public List<(StoredEvent Event, StoredVerdict Verdict, string? Label)> RecentVerified(int max)
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("""
                SELECT id, node, boot, seq, ts, received, frame, verdict_class, verdict_label, verdict_fault, verdict_probability, verifier_version, verified, label
                FROM events WHERE verdict_class IS NOT NULL ORDER BY received DESC LIMIT $max;
                """);
            c.Parameters.AddWithValue("$max", max);
            return ReadVerified(c);
        }
    }

    /// <summary>Marks events as filed by the trainer.</summary>
    public void MarkForwarded(IEnumerable<string> ids) =>
        UpdateEach(ids, "UPDATE events SET forwarded=1 WHERE id=$id;", (c, id) => c.Parameters.AddWithValue("$id", id));

    /// <summary>
    /// Holds events the trainer refused (id → its reason) out of the uplink queue until an operator labels them
    /// again; <see cref="Counts"/> reports how many wait so.
    /// </summary>
    public void MarkRefused(IEnumerable<(string Id, string Reason)> refused) =>
        UpdateEach(refused, "UPDATE events SET uplink_error=$r WHERE id=$id;", (c, r) =>
        {
            c.Parameters.AddWithValue("$id", r.Id);
            c.Parameters.AddWithValue("$r", Clip(r.Reason));
        });

    // Reasons come from the trainer or from exceptions: keep the stored text bounded.
    private static string Clip(string text) => text.Length <= 500 ? text : text[..500];

    // One recomputable transaction running sql once per item.
    private void UpdateEach<T>(IEnumerable<T> items, string sql, Action<SqliteCommand, T> bind)
    {
        WriteRecomputable(() =>
        {
            using SqliteTransaction t = _db.BeginTransaction();
            foreach (T item in items)
            {
                using SqliteCommand c = Command(sql);
                c.Transaction = t;
                bind(c, item);
                c.ExecuteNonQuery();
            }

            t.Commit();
        });
    }

    /// <summary>
    /// Moves an event whose stored frame no longer decodes out of the queues into the quarantine table (frame kept
    /// for inspection), so one damaged row cannot stop verification or the uplink. False when it was not there.
    /// </summary>
    public bool Quarantine(string id, string reason, string detail)
    {
        int moved = 0;
        Write(() =>
        {
            using SqliteTransaction t = _db.BeginTransaction();
            using SqliteCommand c = Command("""
                INSERT OR REPLACE INTO quarantine(id, node, reason, detail, quarantined, frame)
                  SELECT id, node, $reason, $detail, $now, frame FROM events WHERE id = $id;
                DELETE FROM events WHERE id = $id;
                """);
            c.Transaction = t;
            c.Parameters.AddWithValue("$id", id);
            c.Parameters.AddWithValue("$reason", reason);
            c.Parameters.AddWithValue("$detail", Clip(detail));
            c.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            moved = c.ExecuteNonQuery();
            t.Commit();
        });
        return moved > 0;
    }

    /// <summary>Quarantined rows, newest first.</summary>
    public List<QuarantinedEvent> Quarantined(int max)
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("SELECT id, node, reason, detail, quarantined FROM quarantine ORDER BY quarantined DESC LIMIT $max;");
            c.Parameters.AddWithValue("$max", max);
            using SqliteDataReader r = c.ExecuteReader();
            var list = new List<QuarantinedEvent>();
            while (r.Read())
            {
                list.Add(new QuarantinedEvent(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4)));
            }

            return list;
        }
    }

    /// <summary>
    /// Deletes up to <paramref name="max"/> events the trainer has filed that arrived before
    /// <paramref name="cutoffMs"/> (Unix ms); returns how many. Events not yet forwarded are never deleted.
    /// </summary>
    public int PruneForwarded(long cutoffMs, int max)
    {
        int deleted = 0;
        WriteRecomputable(() =>
        {
            using SqliteCommand c = Command("DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE forwarded = 1 AND received < $cutoff ORDER BY received LIMIT $max);");
            c.Parameters.AddWithValue("$cutoff", cutoffMs);
            c.Parameters.AddWithValue("$max", max);
            deleted = c.ExecuteNonQuery();
        });
        return deleted;
    }

    /// <summary>Counts: events stored, waiting for a verdict, waiting for the trainer.</summary>
    public (long Events, long ToVerify, long ToForward) Counts()
    {
        StoreCounts c = DetailedCounts();
        return (c.Events, c.ToVerify, c.ToForward);
    }

    /// <summary>Every queue's length, counted from its partial index rather than by scanning every event.</summary>
    public StoreCounts DetailedCounts()
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("""
                SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM events WHERE verdict_class IS NULL),
                       (SELECT COUNT(*) FROM events WHERE verdict_class IS NOT NULL AND forwarded = 0 AND uplink_error IS NULL),
                       (SELECT COUNT(*) FROM events WHERE uplink_error IS NOT NULL), (SELECT COUNT(*) FROM quarantine);
                """);
            using SqliteDataReader r = c.ExecuteReader();
            r.Read();
            return new StoreCounts(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
        }
    }

    /// <summary>Every node's last-seen time, Unix ms.</summary>
    public Dictionary<string, long> NodesLastSeen()
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("SELECT id, last_seen FROM nodes;");
            using SqliteDataReader r = c.ExecuteReader();
            var d = new Dictionary<string, long>(StringComparer.Ordinal);
            while (r.Read())
            {
                d[r.GetString(0)] = r.GetInt64(1);
            }

            return d;
        }
    }

    /// <summary>Every node seen: its last message (Unix ms) and its last telemetry frame, if any.</summary>
    public Dictionary<string, (long LastSeen, byte[]? Telemetry)> Nodes()
    {
        lock (_readGate)
        {
            using SqliteCommand c = Query("SELECT id, last_seen, telemetry FROM nodes;");
            using SqliteDataReader r = c.ExecuteReader();
            var d = new Dictionary<string, (long, byte[]?)>(StringComparer.Ordinal);
            while (r.Read())
            {
                d[r.GetString(0)] = (r.GetInt64(1), r.IsDBNull(2) ? null : (byte[])r.GetValue(2));
            }

            return d;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        lock (_gate)
        {
            _db.Dispose();
        }

        lock (_readGate)
        {
            _read.Dispose();
        }
    }

    private async Task WriteLoop()
    {
        var batch = new List<(StoredEvent Event, TaskCompletionSource<AddResult> Done)>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < 512 && _writes.Reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var results = new AddResult[batch.Count];
            Exception? failure = null;
            try
            {
                Write(() =>
                {
                    using SqliteTransaction t = _db.BeginTransaction();
                    using SqliteCommand c = Command("INSERT OR IGNORE INTO events(id, node, boot, seq, ts, received, frame) VALUES($id, $node, $boot, $seq, $ts, $rx, $frame);");
                    c.Transaction = t;
                    SqliteParameter id = c.Parameters.Add("$id", SqliteType.Text), node = c.Parameters.Add("$node", SqliteType.Text),
                        boot = c.Parameters.Add("$boot", SqliteType.Integer), seq = c.Parameters.Add("$seq", SqliteType.Integer),
                        ts = c.Parameters.Add("$ts", SqliteType.Integer), rx = c.Parameters.Add("$rx", SqliteType.Integer),
                        frame = c.Parameters.Add("$frame", SqliteType.Blob);
                    using SqliteCommand existing = Command("SELECT frame FROM events WHERE id = $id;");
                    existing.Transaction = t;
                    SqliteParameter existingId = existing.Parameters.Add("$id", SqliteType.Text);
                    for (int i = 0; i < batch.Count; i++)
                    {
                        StoredEvent e = batch[i].Event;
                        id.Value = e.Id;
                        node.Value = e.Node;
                        boot.Value = (long)e.Boot;
                        seq.Value = (long)e.Sequence;
                        ts.Value = e.TimestampMs;
                        rx.Value = e.ReceivedMs;
                        frame.Value = e.Frame;
                        if (c.ExecuteNonQuery() == 1)
                        {
                            results[i] = AddResult.Added;
                            continue;
                        }

                        // Only the same bytes make a redelivery; another frame under the same id is a new event.
                        existingId.Value = e.Id;
                        results[i] = existing.ExecuteScalar() is byte[] stored && stored.AsSpan().SequenceEqual(e.Frame) ? AddResult.Duplicate : AddResult.Collision;
                    }

                    t.Commit();
                    if (Array.IndexOf(results, AddResult.Added) >= 0)
                    {
                        _full = false; // new rows fitted: the nodes can be acknowledged again
                    }
                });
            }
            catch (Exception e)
            {
                failure = e;
            }

            for (int i = 0; i < batch.Count; i++)
            {
                if (failure == null)
                {
                    batch[i].Done.SetResult(results[i]);
                }
                else
                {
                    batch[i].Done.SetException(failure);
                }
            }
        }
    }

    /// <summary>
    /// Stands in for a full disk in tests (nothing here fills a real one on cue): while true, every write fails as
    /// SQLite's <c>SQLITE_FULL</c> does.
    /// </summary>
    internal bool SimulateFullDisk { get; set; }

    // Runs a write under the lock; a full disk becomes StorageFullException and sets IsFull until an event insert succeeds.
    private void Write(Action write)
    {
        lock (_gate)
        {
            try
            {
                if (SimulateFullDisk)
                {
                    throw new SqliteException("database or disk is full (simulated)", SqliteFull);
                }

                write();
            }
            catch (SqliteException e) when (e.SqliteErrorCode == SqliteFull)
            {
                _full = true;
                throw new StorageFullException($"gateway store is full ({e.Message}); nothing was stored", e);
            }
        }
    }

    // A write whose loss on power failure costs only work done again: committed without waiting for the disk.
    private void WriteRecomputable(Action write)
    {
        Write(() =>
        {
            Execute("PRAGMA synchronous=NORMAL;");
            try
            {
                write();
            }
            finally
            {
                Execute("PRAGMA synchronous=FULL;");
            }
        });
    }

    private static List<StoredEvent> ReadEvents(SqliteCommand c)
    {
        var list = new List<StoredEvent>();
        using SqliteDataReader r = c.ExecuteReader();
        while (r.Read())
        {
            list.Add(ReadEvent(r));
        }

        return list;
    }

    private static StoredEvent ReadEvent(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), (uint)r.GetInt64(2), (uint)r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), (byte[])r.GetValue(6));

    private SqliteCommand Command(string sql)
    {
        SqliteCommand c = _db.CreateCommand();
        c.CommandText = sql;
        return c;
    }

    private SqliteCommand Query(string sql)
    {
        SqliteCommand c = _read.CreateCommand();
        c.CommandText = sql;
        return c;
    }

    private void Execute(string sql)
    {
        using SqliteCommand c = Command(sql);
        c.ExecuteNonQuery();
    }
}
