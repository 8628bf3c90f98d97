using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.Data.Sqlite;
using TinyMlops.Contracts;

namespace TinyMlops.Ingestion;

/// <summary>
/// Files what gateways send into the trainer's dataset store: each verified window becomes a plain TinyMlops CSV
/// recording (docs/datasets.md) that <c>tinymlops train --data</c> reads, labelled with the operator's label when
/// there is one and the verifier's class otherwise (<c>label_source</c> says which), grouped by node. An SQLite
/// index of (gateway, record id) with each record's content digest makes redeliveries harmless; a filed record's
/// samples are never replaced (the same id with other content is refused), and an operator's relabel rewrites only
/// the header of the file as filed. Every name written passes <see cref="RecordNames"/>, the rule the dataset
/// reader applies too. Thread-safe.
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
            CREATE TABLE IF NOT EXISTS filed (gateway TEXT NOT NULL, id TEXT NOT NULL, node TEXT NOT NULL, received INTEGER NOT NULL,
              label TEXT NOT NULL, label_source TEXT NOT NULL, file TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (gateway, id));
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
                c.CommandText = "SELECT COUNT(*) FROM filed;";
                return (long)c.ExecuteScalar()!;
            }
        }
    }

    /// <summary>Redeliveries recognised (and not filed again) since this store was opened.</summary>
    public long DuplicatesSinceStart => Interlocked.Read(ref _duplicates);

    /// <summary>Files a batch from gateway <see cref="UplinkBatch.GatewayId"/> (authenticated by the caller).</summary>
    public IngestResult Ingest(UplinkBatch batch)
    {
        var result = new IngestResult();
        if (!RecordNames.IsValidId(batch.GatewayId))
        {
            foreach (UplinkRecord r in batch.Records)
            {
                Refuse(result, r.Id, "the gateway id is not a valid id");
            }

            return result;
        }

        lock (_gate)
        {
            foreach (UplinkRecord r in batch.Records)
            {
                string? problem = Check(r);
                if (problem != null)
                {
                    Refuse(result, r.Id, problem);
                    continue;
                }

                (string label, string source) = r.Label != null ? (r.Label, "operator") : (r.Verdict.Label, "verifier");
                string content = ContentDigest(r);
                string? filedLabel = null, filedContent = null, filedFile = null;
                using (SqliteCommand q = _db.CreateCommand())
                {
                    q.CommandText = "SELECT label, content, file FROM filed WHERE gateway = $g AND id = $id;";
                    q.Parameters.AddWithValue("$g", batch.GatewayId);
                    q.Parameters.AddWithValue("$id", r.Id);
                    using SqliteDataReader row = q.ExecuteReader();
                    if (row.Read())
                    {
                        (filedLabel, filedContent, filedFile) = (row.GetString(0), row.GetString(1), row.GetString(2));
                    }
                }

                if (filedContent != null && filedContent != content)
                {
                    Refuse(result, r.Id, "a record with this id was filed with other content; filed records are never replaced");
                    continue;
                }

                if (filedLabel != null && (filedLabel == label || source != "operator"))
                {
                    result.Duplicates++;
                    Interlocked.Increment(ref _duplicates);
                    continue;
                }

                string file = filedFile ?? $"{batch.GatewayId}_{r.Id}.csv";
                string path = Path.Combine(RecordingsDirectory, file);
                if (filedFile != null && File.Exists(path))
                {
                    Relabel(path, r, label, source); // the samples stay as first filed
                }
                else
                {
                    WriteRecording(path, r, label, source); // file first, then index: a crash between leaves a file the redelivery rewrites
                }

                using SqliteCommand c = _db.CreateCommand();
                c.CommandText = """
                    INSERT INTO filed(gateway, id, node, received, label, label_source, file, content) VALUES($g, $id, $n, $t, $l, $s, $f, $c)
                    ON CONFLICT(gateway, id) DO UPDATE SET label = $l, label_source = $s;
                    """;
                c.Parameters.AddWithValue("$g", batch.GatewayId);
                c.Parameters.AddWithValue("$id", r.Id);
                c.Parameters.AddWithValue("$n", r.Node);
                c.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                c.Parameters.AddWithValue("$l", label);
                c.Parameters.AddWithValue("$s", source);
                c.Parameters.AddWithValue("$f", file);
                c.Parameters.AddWithValue("$c", content);
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

    private static void Refuse(IngestResult result, string? id, string reason)
    {
        result.Rejected++;
        string safe = id == null ? "(no id)" : id.Length <= 200 ? id : id[..200];
        result.Errors.Add($"{safe}: {reason}");
        result.Refused.Add(new RefusedRecord { Id = safe, Reason = reason });
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
        if (!RecordNames.IsValidId(r.Node) || !RecordNames.IsRecordIdOf(r.Id, r.Node, r.Boot, r.Sequence))
        {
            return "the id must be {node}-{boot}-{sequence} of a valid node id";
        }

        if (r.Samples == null || r.Features == null || r.Verdict == null)
        {
            return "samples, features and verdict are required";
        }

        if (r.SampleRateHz <= 0 || r.SampleRateHz > 100_000 || r.WindowLength <= 0 || r.Samples.Length != 3 * r.WindowLength)
        {
            return $"window of {r.Samples.Length} samples does not hold 3 axes of {r.WindowLength} at {r.SampleRateHz} Hz";
        }

        if (r.Samples.Any(v => !float.IsFinite(v)) || r.Features.Any(v => !float.IsFinite(v)) || !float.IsFinite(r.Verdict.Probability))
        {
            return "samples, features and probability must be finite";
        }

        if (!RecordNames.IsValidLabel(r.Verdict.Label) || (r.Label != null && !RecordNames.IsValidLabel(r.Label)))
        {
            return $"labels must be 1-{RecordNames.MaxLabelLength} letters, digits, '-', '_' or '.', starting with a letter or digit";
        }

        return null;
    }

    // What makes a record the same record: its node, boot, sequence and samples (not its labels, which may change).
    private static string ContentDigest(UplinkRecord r)
    {
        using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes($"{r.Node}\n{r.Boot}\n{r.Sequence}\n{r.SampleRateHz}\n{r.WindowLength}\n"));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.Samples.AsSpan()));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    private static string Header(UplinkRecord r, string label, string source) => string.Create(CultureInfo.InvariantCulture,
        $"# tinymlops-recording sample_rate_hz={r.SampleRateHz} label={label} group={r.Node} label_source={source} verifier_label={r.Verdict.Label} verifier_probability={r.Verdict.Probability:R} verifier_version={r.Verdict.VerifierVersion} node_boot={r.Boot} node_sequence={r.Sequence} node_timestamp_ms={r.TimestampMs}");

    // Rewrites only the header line; the rows are copied from the file as filed.
    private static void Relabel(string path, UplinkRecord r, string label, string source)
    {
        string[] lines = File.ReadAllLines(path);
        lines[0] = Header(r, label, source);
        string temp = path + ".tmp";
        File.WriteAllText(temp, string.Join('\n', lines) + "\n");
        File.Move(temp, path, overwrite: true);
    }

    private static void WriteRecording(string path, UplinkRecord r, string label, string source)
    {
        var sb = new StringBuilder();
        sb.Append(Header(r, label, source)).Append('\n');
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
