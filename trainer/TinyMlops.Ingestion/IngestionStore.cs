using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.Data.Sqlite;
using TinyMlops.Gateway.Contracts;

namespace TinyMlops.Ingestion;

/// <summary>
/// Files what gateways send into the trainer's dataset store: each verified window becomes a plain TinyMlops CSV
/// recording (docs/datasets.md) that <c>tinymlops train --data</c> reads, labelled with the operator's label when
/// there is one and the verifier's class otherwise (<c>label_source</c> says which), grouped by node. An SQLite
/// index of record ids makes redeliveries harmless. Thread-safe.
/// </summary>
public sealed class IngestionStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly object _gate = new();
    private long _duplicates;

    /// <summary>Opens the store under <paramref name="directory"/> (recordings in <c>recordings/</c>).</summary>
    public IngestionStore(string directory)
    {
        RecordingsDirectory = Path.Combine(directory, "recordings");
        Directory.CreateDirectory(RecordingsDirectory);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(directory, "ingestion.db"), Pooling = false }.ToString());
        _db.Open();
        using SqliteCommand c = _db.CreateCommand();
        c.CommandText = """
            PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, gateway TEXT NOT NULL, node TEXT NOT NULL, received INTEGER NOT NULL,
              label TEXT NOT NULL, label_source TEXT NOT NULL, file TEXT NOT NULL);
            """;
        c.ExecuteNonQuery();
    }

    /// <summary>Where the CSV recordings go.</summary>
    public string RecordingsDirectory { get; }

    /// <summary>Records filed so far.</summary>
    public long Count
    {
        get
        {
            lock (_gate)
            {
                using SqliteCommand c = _db.CreateCommand();
                c.CommandText = "SELECT COUNT(*) FROM records;";
                return (long)c.ExecuteScalar()!;
            }
        }
    }

    /// <summary>Redeliveries recognised (and not filed again) since this store was opened.</summary>
    public long DuplicatesSinceStart => Interlocked.Read(ref _duplicates);

    /// <summary>Files a batch.</summary>
    public IngestResult Ingest(UplinkBatch batch)
    {
        var result = new IngestResult();
        if (!IsSafeName(batch.GatewayId))
        {
            result.Rejected = batch.Records.Count;
            result.Errors.Add($"gateway id '{batch.GatewayId}' is not 1-64 letters, digits, '-', '_' or '.'");
            return result;
        }

        lock (_gate)
        {
            foreach (UplinkRecord r in batch.Records)
            {
                string? problem = Check(r);
                if (problem != null)
                {
                    result.Rejected++;
                    result.Errors.Add($"{r.Id}: {problem}");
                    continue;
                }

                (string label, string source) = r.Label != null ? (r.Label, "operator") : (r.Verdict.Label, "verifier");
                string? filedLabel = null;
                using (SqliteCommand q = _db.CreateCommand())
                {
                    q.CommandText = "SELECT label FROM records WHERE id = $id;";
                    q.Parameters.AddWithValue("$id", r.Id);
                    filedLabel = q.ExecuteScalar() as string;
                }

                if (filedLabel != null && (filedLabel == label || source != "operator"))
                {
                    result.Duplicates++;
                    Interlocked.Increment(ref _duplicates);
                    continue;
                }

                // File first, then index: a crash in between leaves a file the redelivery overwrites.
                string file = $"{batch.GatewayId}_{r.Id}.csv";
                WriteRecording(Path.Combine(RecordingsDirectory, file), r, label, source);
                using SqliteCommand c = _db.CreateCommand();
                c.CommandText = """
                    INSERT INTO records(id, gateway, node, received, label, label_source, file) VALUES($id, $g, $n, $t, $l, $s, $f)
                    ON CONFLICT(id) DO UPDATE SET label = $l, label_source = $s;
                    """;
                c.Parameters.AddWithValue("$id", r.Id);
                c.Parameters.AddWithValue("$g", batch.GatewayId);
                c.Parameters.AddWithValue("$n", r.Node);
                c.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                c.Parameters.AddWithValue("$l", label);
                c.Parameters.AddWithValue("$s", source);
                c.Parameters.AddWithValue("$f", file);
                c.ExecuteNonQuery();
                if (filedLabel == null)
                {
                    result.Accepted++;
                }
                else
                {
                    result.Relabelled++;
                }
            }
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _db.Dispose();
        }
    }

    private static string? Check(UplinkRecord r)
    {
        if (!IsSafeName(r.Id, 200) || !IsSafeName(r.Node))
        {
            return "id or node is not a safe name";
        }

        if (r.SampleRateHz <= 0 || r.WindowLength <= 0 || r.Samples.Length != 3 * r.WindowLength)
        {
            return $"window of {r.Samples.Length} samples does not hold 3 axes of {r.WindowLength} at {r.SampleRateHz} Hz";
        }

        if (r.Samples.Any(v => !float.IsFinite(v)) || r.Features.Any(v => !float.IsFinite(v)))
        {
            return "samples and features must be finite";
        }

        string label = r.Label ?? r.Verdict.Label;
        return IsSafeName(label, 64) ? null : $"label '{label}' is not 1-64 letters, digits, '-', '_' or '.'";
    }

    private static bool IsSafeName(string? s, int max = 64) =>
        !string.IsNullOrEmpty(s) && s.Length <= max && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && s != "." && s != "..";

    private static void WriteRecording(string path, UplinkRecord r, string label, string source)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# tinymlops-recording sample_rate_hz={r.SampleRateHz} label={label} group={r.Node} label_source={source} verifier_label={r.Verdict.Label} verifier_probability={r.Verdict.Probability:R} verifier_version={r.Verdict.VerifierVersion} node_timestamp_ms={r.TimestampMs}\n");
        sb.Append("x,y,z\n");
        int n = r.WindowLength;
        for (int i = 0; i < n; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{r.Samples[i]:R},{r.Samples[n + i]:R},{r.Samples[(2 * n) + i]:R}\n");
        }

        string temp = path + ".tmp";
        File.WriteAllText(temp, sb.ToString());
        File.Move(temp, path, overwrite: true);
    }
}
