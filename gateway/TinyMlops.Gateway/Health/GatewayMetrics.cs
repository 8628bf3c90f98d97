using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;

namespace TinyMlops.Gateway.Health;

/// <summary>
/// The gateway's figures, served as Prometheus text on <c>/metrics</c>. Counters are monotonic; latencies are
/// summarised over the last <see cref="LatencyWindow"/> verifications. Thread-safe.
/// </summary>
public sealed class GatewayMetrics
{
    /// <summary>How many recent latencies the quantiles are computed over.</summary>
    public const int LatencyWindow = 4096;

    private readonly ConcurrentDictionary<string, long> _rejected = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _quarantined = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _workerFaults = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, NodeFigures> _nodes = new(StringComparer.Ordinal);
    private readonly double[] _latencies = new double[LatencyWindow];
    private readonly object _latencyGate = new();
    private readonly long _startTicks = Environment.TickCount64;
    private long _latencyCount;
    private long _received, _stored, _duplicates, _verified, _verdictsSent, _forwarded, _uplinkFailures, _modelLoadFailures, _verifierFailures, _storageFull, _pruned;
    private long _implausibleClocks, _idCollisions, _uplinkMarkFailures, _uplinkRefused;
    private double _uplinkBackoffSeconds;

    /// <summary>Per-node counts.</summary>
    public sealed class NodeFigures
    {
        /// <summary>Events verified.</summary>
        public long Verified;

        /// <summary>Events the verifier confirmed as a fault (detector and verifier agree).</summary>
        public long Confirmed;

        /// <summary>Last message, Unix ms.</summary>
        public long LastSeenMs;
    }

    /// <summary>Version of the verifier in use (0 = none loaded).</summary>
    public long VerifierVersion { get; set; }

    /// <summary>Events accepted from nodes and stored (new or redelivered).</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Events stored for the first time.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Redeliveries of stored events.</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Events verified.</summary>
    public long Verified => Interlocked.Read(ref _verified);

    /// <summary>Records the trainer filed.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Rejections by reason.</summary>
    public IReadOnlyDictionary<string, long> Rejected => new Dictionary<string, long>(_rejected);

    /// <summary>Figures of one node (created on first use).</summary>
    public NodeFigures Node(string node) => _nodes.GetOrAdd(node, _ => new NodeFigures());

    /// <summary>Counts an accepted message.</summary>
    public void CountReceived() => Interlocked.Increment(ref _received);

    /// <summary>Counts a stored event or a duplicate.</summary>
    public void CountStored(bool duplicate) => Interlocked.Increment(ref duplicate ? ref _duplicates : ref _stored);

    /// <summary>Counts a refused message under <paramref name="reason"/> (a short snake_case key).</summary>
    public void CountRejected(string reason) => _rejected.AddOrUpdate(reason, 1, (_, v) => v + 1);

    /// <summary>Counts a write refused for lack of space.</summary>
    public void CountStorageFull() => Interlocked.Increment(ref _storageFull);

    /// <summary>Counts a verifier model that failed to load.</summary>
    public void CountModelLoadFailure() => Interlocked.Increment(ref _modelLoadFailures);

    /// <summary>Counts an event the verifier gave no answer for (a non-finite output); it waits for the next verifier.</summary>
    public void CountVerifierFailure() => Interlocked.Increment(ref _verifierFailures);

    /// <summary>Counts a verified event and its end-to-end latency (stored → verdict published).</summary>
    public void CountVerified(string node, bool fault, double latencyMs)
    {
        Interlocked.Increment(ref _verified);
        NodeFigures n = Node(node);
        Interlocked.Increment(ref n.Verified);
        if (fault)
        {
            Interlocked.Increment(ref n.Confirmed);
        }

        lock (_latencyGate)
        {
            _latencies[_latencyCount % LatencyWindow] = latencyMs;
            _latencyCount++;
        }
    }

    /// <summary>Counts a verdict sent to a node.</summary>
    public void CountVerdictSent() => Interlocked.Increment(ref _verdictsSent);

    /// <summary>Counts records the trainer filed.</summary>
    public void CountForwarded(int n) => Interlocked.Add(ref _forwarded, n);

    /// <summary>Counts forwarded events deleted after the retention period.</summary>
    public void CountPruned(int n) => Interlocked.Add(ref _pruned, n);

    /// <summary>Counts a failed uplink attempt.</summary>
    public void CountUplinkFailure() => Interlocked.Increment(ref _uplinkFailures);

    /// <summary>Counts an event whose node clock is unset or out of range.</summary>
    public void CountImplausibleClock() => Interlocked.Increment(ref _implausibleClocks);

    /// <summary>Counts an event whose id was taken by a different frame.</summary>
    public void CountIdCollision() => Interlocked.Increment(ref _idCollisions);

    /// <summary>Counts a stored row taken out of the queues, by reason.</summary>
    public void CountQuarantined(string reason) => _quarantined.AddOrUpdate(reason, 1, (_, v) => v + 1);

    /// <summary>Counts an unexpected failure of a background worker (it is restarted), by worker.</summary>
    public void CountWorkerFault(string worker) => _workerFaults.AddOrUpdate(worker, 1, (_, v) => v + 1);

    /// <summary>Counts a failed attempt to mark filed records as forwarded.</summary>
    public void CountUplinkMarkFailure() => Interlocked.Increment(ref _uplinkMarkFailures);

    /// <summary>Counts records the trainer refused.</summary>
    public void CountUplinkRefused(int n) => Interlocked.Add(ref _uplinkRefused, n);

    /// <summary>The uplink's current wait before its next attempt, seconds (0 when it is not backing off).</summary>
    public double UplinkBackoffSeconds
    {
        get => Volatile.Read(ref _uplinkBackoffSeconds);
        set => Volatile.Write(ref _uplinkBackoffSeconds, value);
    }

    /// <summary>Unexpected worker failures so far, all workers.</summary>
    public long WorkerFaults => _workerFaults.Values.Sum();

    /// <summary>Notes a message from <paramref name="node"/>.</summary>
    public void Seen(string node, long nowMs) => Node(node).LastSeenMs = nowMs;

    /// <summary>Latency quantile over the recent window, ms (NaN before the first verification).</summary>
    public double LatencyQuantile(double q)
    {
        double[] copy;
        lock (_latencyGate)
        {
            copy = _latencies.Take((int)Math.Min(_latencyCount, LatencyWindow)).ToArray();
        }

        if (copy.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(copy);
        return copy[(int)Math.Min(copy.Length - 1, Math.Ceiling(q * copy.Length) - 1)];
    }

    private readonly ConcurrentDictionary<string, long> _releaseSteps = new(StringComparer.Ordinal);

    /// <summary>Sequence of the installed release (0 = none).</summary>
    public long ReleaseSequence { get; set; }

    /// <summary>Counts a step of a release's installation (fetched, verified, promoted, refused, rolled_back …).</summary>
    public void CountReleaseStep(string step) => _releaseSteps.AddOrUpdate(step, 1, (_, v) => v + 1);

    /// <summary>Events per second since start.</summary>
    public double EventsPerSecond => Received / Math.Max(1e-3, (Environment.TickCount64 - _startTicks) / 1000.0);

    /// <summary>The Prometheus text exposition (version 0.0.4).</summary>
    public string ToPrometheus(Storage.StoreCounts counts, bool storageFull, bool storeRecovered = false)
    {
        var sb = new StringBuilder();
        Counter(sb, "tinymlops_gateway_events_received_total", "Events accepted from nodes.", Received);
        Counter(sb, "tinymlops_gateway_events_stored_total", "Events stored for the first time.", Stored);
        Counter(sb, "tinymlops_gateway_events_duplicate_total", "Redeliveries of events already stored.", Duplicates);
        Counter(sb, "tinymlops_gateway_events_verified_total", "Events verified.", Verified);
        Counter(sb, "tinymlops_gateway_verdicts_sent_total", "Verdicts published to nodes.", Interlocked.Read(ref _verdictsSent));
        Counter(sb, "tinymlops_gateway_uplink_forwarded_total", "Records the trainer filed.", Forwarded);
        Counter(sb, "tinymlops_gateway_events_pruned_total", "Forwarded events deleted after the retention period.", Interlocked.Read(ref _pruned));
        Counter(sb, "tinymlops_gateway_uplink_failures_total", "Failed uplink attempts.", Interlocked.Read(ref _uplinkFailures));
        Counter(sb, "tinymlops_gateway_model_load_failures_total", "Verifier models that failed to load.", Interlocked.Read(ref _modelLoadFailures));
        Counter(sb, "tinymlops_gateway_verifier_failures_total", "Events the verifier gave a non-finite output for (left pending for the next verifier).", Interlocked.Read(ref _verifierFailures));
        Counter(sb, "tinymlops_gateway_storage_full_total", "Writes refused for lack of space.", Interlocked.Read(ref _storageFull));
        Counter(sb, "tinymlops_gateway_clock_implausible_total", "Events whose node clock was unset or out of range (kept; not used for identity).", Interlocked.Read(ref _implausibleClocks));
        Counter(sb, "tinymlops_gateway_event_id_collisions_total", "Events whose id was taken by a different window (stored under their digest).", Interlocked.Read(ref _idCollisions));
        Counter(sb, "tinymlops_gateway_uplink_mark_failures_total", "Failed attempts to mark filed records as forwarded (retried with back-off, not re-sent).", Interlocked.Read(ref _uplinkMarkFailures));
        Counter(sb, "tinymlops_gateway_uplink_refused_total", "Records the trainer refused (held with their reason).", Interlocked.Read(ref _uplinkRefused));
        Labelled(sb, "tinymlops_gateway_rejected_total", "Messages refused, by reason.", "reason", _rejected);
        Labelled(sb, "tinymlops_gateway_quarantined_total", "Stored rows taken out of the queues, by reason.", "reason", _quarantined);
        Labelled(sb, "tinymlops_gateway_worker_faults_total", "Unexpected background worker failures (each restarted), by worker.", "worker", _workerFaults);
        Labelled(sb, "tinymlops_gateway_release_steps_total", "Steps of release installations, by step.", "step", _releaseSteps);
        Gauge(sb, "tinymlops_gateway_release_sequence", "Sequence of the installed release (0 = none).", ReleaseSequence);
        Gauge(sb, "tinymlops_gateway_uplink_backoff_seconds", "Wait before the uplink's next attempt (0 when not backing off).", UplinkBackoffSeconds);
        Gauge(sb, "tinymlops_gateway_queue_refused", "Records the trainer refused, held with their reason until relabelled.", counts.Refused);
        Gauge(sb, "tinymlops_gateway_queue_quarantined", "Rows in quarantine.", counts.Quarantined);
        Gauge(sb, "tinymlops_gateway_store_recovered", "1 when the store was found damaged at start and recovered into a new file.", storeRecovered ? 1 : 0);

        Gauge(sb, "tinymlops_gateway_events_per_second", "Events accepted per second since start.", EventsPerSecond);
        sb.Append("# HELP tinymlops_gateway_verification_latency_ms Event stored to verdict published, recent window.\n# TYPE tinymlops_gateway_verification_latency_ms summary\n");
        foreach (double q in new[] { 0.5, 0.99 })
        {
            sb.Append(CultureInfo.InvariantCulture, $"tinymlops_gateway_verification_latency_ms{{quantile=\"{q}\"}} {Format(LatencyQuantile(q))}\n");
        }

        Gauge(sb, "tinymlops_gateway_queue_to_verify", "Stored events waiting for a verdict.", counts.ToVerify);
        Gauge(sb, "tinymlops_gateway_queue_to_forward", "Verified events waiting for the trainer.", counts.ToForward);
        Gauge(sb, "tinymlops_gateway_storage_full", "1 while the store cannot write.", storageFull ? 1 : 0);
        Gauge(sb, "tinymlops_gateway_verifier_version", "Verifier model version in use (0 = none).", VerifierVersion);
        sb.Append("# HELP tinymlops_gateway_node_agreement Share of a node's detector events the verifier confirmed.\n# TYPE tinymlops_gateway_node_agreement gauge\n");
        var nodes = _nodes.OrderBy(n => n.Key, StringComparer.Ordinal).ToList();
        foreach (KeyValuePair<string, NodeFigures> n in nodes.Where(n => n.Value.Verified > 0))
        {
            sb.Append(CultureInfo.InvariantCulture, $"tinymlops_gateway_node_agreement{{node=\"{n.Key}\"}} {Format(n.Value.Confirmed / (double)n.Value.Verified)}\n");
        }

        sb.Append("# HELP tinymlops_gateway_node_last_seen_seconds Unix time of a node's last message.\n# TYPE tinymlops_gateway_node_last_seen_seconds gauge\n");
        foreach (KeyValuePair<string, NodeFigures> n in nodes.Where(n => n.Value.LastSeenMs > 0))
        {
            sb.Append(CultureInfo.InvariantCulture, $"tinymlops_gateway_node_last_seen_seconds{{node=\"{n.Key}\"}} {Format(n.Value.LastSeenMs / 1000.0)}\n");
        }

        // The process, under the names Prometheus client libraries use, so a dashboard can watch for leaks.
        using (var self = System.Diagnostics.Process.GetCurrentProcess())
        {
            Counter(sb, "process_cpu_seconds_total", "CPU time used by the gateway, seconds.", self.TotalProcessorTime.TotalSeconds);
            Gauge(sb, "process_resident_memory_bytes", "Resident memory of the gateway.", self.WorkingSet64);
        }

        Gauge(sb, "dotnet_gc_heap_size_bytes", "Managed heap size after the last garbage collection.", GC.GetGCMemoryInfo().HeapSizeBytes);
        sb.Append("# HELP dotnet_collection_count_total Garbage collections, by generation.\n# TYPE dotnet_collection_count_total counter\n");
        for (int g = 0; g <= GC.MaxGeneration; g++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"dotnet_collection_count_total{{generation=\"{g}\"}} {GC.CollectionCount(g)}\n");
        }

        return sb.ToString();
    }

    private static void Labelled(StringBuilder sb, string name, string help, string label, ConcurrentDictionary<string, long> values)
    {
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n");
        foreach (KeyValuePair<string, long> r in values.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{name}{{{label}=\"{r.Key}\"}} {r.Value}\n");
        }
    }

    private static void Counter(StringBuilder sb, string name, string help, double value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {Format(value)}\n");

    private static void Counter(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");

    private static void Gauge(StringBuilder sb, string name, string help, double value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {Format(value)}\n");

    private static string Format(double v) => double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);
}
