using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;

namespace TinyMlops.Gateway.Releases;

/// <summary>Where one node stands in a relayed update.</summary>
/// <param name="State"><c>waiting</c> (admitted, not yet offered), <c>offered</c>, <c>downloading</c>, <c>confirmed</c> or <c>failed</c>.</param>
/// <param name="Attempts">Offers sent (the first and each retry).</param>
/// <param name="NextOffset">Payload offset the node asked for last.</param>
/// <param name="BytesSent">Offer and chunk frames sent to it, bytes.</param>
/// <param name="LastError">Why it failed, or its last refusal or timeout.</param>
public sealed record NodeUpdateStatus(string Node, string State, int Attempts, int NextOffset, long BytesSent, string? LastError);

/// <summary>
/// The gateway as Uptane's primary for its nodes: it holds a release it verified itself, re-issues the release's
/// manifest for each admitted node under that node's own HMAC key (<see cref="NodeKeys"/>), and streams the model
/// in chunks paced by the node's update status (each status names the offset it wants next, so a node that reset
/// resumes where its staged payload stopped). A node that does not answer is offered again after a timeout, with
/// back-off, up to <see cref="ReleaseOptions.NodeAttempts"/> times. A node ends <c>confirmed</c> (it runs the release
/// after its self-test) or <c>failed</c> (it refused the release, rolled back after a failing self-test, or never
/// answered), with the reason. Per-node states are written beside the release on each change of state, so a gateway
/// restart carries on. One relayed release at a time (the newest replaces an older one). Thread-safe.
/// </summary>
public sealed class NodeUpdateRelay(IOptions<GatewayOptions> options, NodeKeys keys, INodeLink link, GatewayMetrics metrics, ILogger<NodeUpdateRelay> log)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly object _gate = new();
    private Job? _job;
    private volatile bool _halted;

    /// <summary>
    /// True while the rollout is paused, aborted or not started: no node is offered the release (again); downloads
    /// under way still get their chunks, so no node is left half way.
    /// </summary>
    public bool Halted
    {
        get => _halted;
        set => _halted = value;
    }

    /// <summary>Sequence of the release being relayed (0 = none).</summary>
    public long Sequence
    {
        get
        {
            lock (_gate)
            {
                return _job?.Sequence ?? 0;
            }
        }
    }

    /// <summary>
    /// Starts relaying release <paramref name="sequence"/> of <paramref name="boardClass"/> (model
    /// <paramref name="detector"/>, self-test inputs <paramref name="golden"/>), keeping per-node state in
    /// <paramref name="folder"/>; the per-node states found there from before a restart are taken up again.
    /// </summary>
    public void Begin(int boardClass, long sequence, byte[] detector, float[] golden, string folder)
    {
        var job = new Job(boardClass, sequence, detector, golden, Path.Combine(folder, "nodes.json"));
        if (File.Exists(job.StateFile))
        {
            try
            {
                foreach (NodeUpdateStatus s in JsonSerializer.Deserialize<NodeUpdateStatus[]>(File.ReadAllBytes(job.StateFile), Json) ?? [])
                {
                    // Unfinished nodes are offered again: the node's status says where its download stands.
                    job.Nodes[s.Node] = new Progress { State = s.State is "confirmed" or "failed" ? s.State : "waiting", Attempts = s.Attempts, BytesSent = s.BytesSent, LastError = s.LastError };
                }
            }
            catch (JsonException e)
            {
                log.LogError("node update states in {File} unreadable ({Message}); the admitted nodes start over", job.StateFile, e.Message);
            }
        }

        lock (_gate)
        {
            _job = job;
            _halted = true; // until the trainer's rollout admits nodes
        }
    }

    /// <summary>Admits <paramref name="nodes"/> to the release (nodes already in it keep their state); unknown ids fail at once.</summary>
    public void Admit(IEnumerable<string> nodes)
    {
        lock (_gate)
        {
            Job job = _job ?? throw new InvalidOperationException("no release is being relayed");
            bool added = false;
            foreach (string n in nodes)
            {
                added |= job.Nodes.TryAdd(n, new Progress());
            }

            if (added)
            {
                Save(job); // the rollout re-admits the same nodes every sync: write only what is new
            }
        }
    }

    /// <summary>The nodes of the release, by id.</summary>
    public IReadOnlyList<NodeUpdateStatus> Snapshot()
    {
        lock (_gate)
        {
            return _job == null ? [] : _job.Nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => n.Value.Status(n.Key)).ToList();
        }
    }

    /// <summary>Handles a node's update status: the next chunk, or its outcome.</summary>
    public async Task OnStatusAsync(string node, OtaStatusMessage s, CancellationToken ct)
    {
        byte[]? frame = null;
        lock (_gate)
        {
            if (_job is not { } job || !job.Nodes.TryGetValue(node, out Progress? p) || p.State is "confirmed" or "failed" or "waiting")
            {
                return;
            }

            if (s.InstalledSequence >= job.Sequence)
            {
                // It runs this release (or a newer one): confirmed after its self-test, now or before.
                Finish(job, node, p, "confirmed", null);
                return;
            }

            if (s.State == UpdateState.Refused && s.ReleaseSequence == 0 && p.State == "offered")
            {
                // A manifest the node could not authenticate or parse: it names no release, but it answers our offer.
                Finish(job, node, p, "failed", "refused: " + UpdateErrorName(s.Error));
                return;
            }

            if (s.ReleaseSequence != job.Sequence)
            {
                return; // about another release: not an answer to ours
            }

            if (s.State is UpdateState.RolledBack or UpdateState.Refused)
            {
                Finish(job, node, p, "failed", $"{(s.State == UpdateState.RolledBack ? "rolled back" : "refused")}: {UpdateErrorName(s.Error)}");
                return;
            }

            if (s.State == UpdateState.Downloading && s.NextOffset >= 0 && s.NextOffset < job.Payload.Length)
            {
                bool changed = p.State != "downloading";
                p.State = "downloading";
                p.NextOffset = s.NextOffset;
                p.DueMs = Environment.TickCount64 + Timeout;
                int n = Math.Min(options.Value.Releases.ChunkBytes, job.Payload.Length - s.NextOffset);
                frame = WireCodec.Encode(new OtaChunkMessage { ReleaseSequence = (uint)job.Sequence, Offset = s.NextOffset, Data = job.Payload.AsSpan(s.NextOffset, n).ToArray() });
                p.BytesSent += frame.Length;
                if (changed)
                {
                    Save(job);
                }
            }
        }

        if (frame != null)
        {
            await SendAsync(new Topics(node).OtaChunk, frame, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Offers the release to admitted nodes not yet offered, and again to those whose answer is overdue.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        var offers = new List<(string Node, byte[] Frame)>();
        lock (_gate)
        {
            if (_job is not { } job || _halted)
            {
                return;
            }

            long now = Environment.TickCount64;
            IReadOnlyDictionary<string, NodeKey> known = keys.All;
            foreach ((string node, Progress p) in job.Nodes)
            {
                if (p.State is "confirmed" or "failed" || (p.State != "waiting" && now < p.DueMs))
                {
                    continue;
                }

                if (p.Attempts >= options.Value.Releases.NodeAttempts)
                {
                    Finish(job, node, p, "failed", $"no answer after {p.Attempts} offers");
                    continue;
                }

                if (!known.TryGetValue(node, out NodeKey? key))
                {
                    Finish(job, node, p, "failed", "no update key registered for this node");
                    continue;
                }

                if (key.BoardClass != job.BoardClass)
                {
                    Finish(job, node, p, "failed", $"the node is board class {key.BoardClass}, the release is for {job.BoardClass}");
                    continue;
                }

                byte[] manifest = UpdateManifest.Describe(job.Payload, (uint)job.Sequence, node, job.Golden).EncodeAndSign(key.Key);
                byte[] frame = WireCodec.Encode(new OtaOfferMessage { Manifest = manifest });
                if (p.Attempts > 0)
                {
                    p.LastError = p.State == "waiting" ? p.LastError : $"no answer within {(Timeout << Math.Min(p.Attempts - 1, 5)) / 1000.0:0.#} s; offered again";
                    metrics.CountReleaseStep("node_retry");
                }

                p.Attempts++;
                p.State = "offered";
                p.BytesSent += frame.Length;
                p.DueMs = now + (Timeout << Math.Min(p.Attempts - 1, 5)); // back-off: the node may be rebooting or offline
                offers.Add((node, frame));
            }

            if (offers.Count > 0)
            {
                Save(job);
            }
        }

        foreach ((string node, byte[] frame) in offers)
        {
            await SendAsync(new Topics(node).OtaOffer, frame, ct).ConfigureAwait(false);
        }
    }

    private long Timeout => (long)(options.Value.Releases.NodeTimeoutSeconds * 1000);

    private void Finish(Job job, string node, Progress p, string state, string? error)
    {
        p.State = state;
        p.LastError = error ?? p.LastError;
        metrics.CountReleaseStep("node_" + state);
        if (state == "failed")
        {
            log.LogWarning("release {Sequence}: node {Node} failed: {Error}", job.Sequence, node, error);
        }
        else
        {
            log.LogInformation("release {Sequence}: node {Node} confirmed it", job.Sequence, node);
        }

        Save(job);
    }

    private async Task SendAsync(string topic, byte[] frame, CancellationToken ct)
    {
        try
        {
            await link.PublishAsync(topic, frame, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogWarning("update frame to {Topic} not sent ({Message}); the timeout offers again", topic, e.Message);
        }
    }

    private void Save(Job job)
    {
        try
        {
            string temp = job.StateFile + ".tmp";
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(job.Nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => n.Value.Status(n.Key)).ToArray(), Json));
            File.Move(temp, job.StateFile, overwrite: true);
        }
        catch (IOException e)
        {
            log.LogError("node update states not saved to {File}: {Message}", job.StateFile, e.Message); // kept in memory; saved with the next change
        }
    }

    private static string UpdateErrorName(int error) => error switch
    {
        UpdateError.BadSignature => "bad manifest MAC",
        UpdateError.WrongNode => "manifest for another node",
        UpdateError.WrongBoard => "wrong board class",
        UpdateError.Rollback => "sequence not above the node's",
        UpdateError.TooLarge => "model larger than the slot",
        UpdateError.DigestMismatch => "payload digest mismatch",
        UpdateError.InvalidModel => "invalid model",
        UpdateError.SelfTestFailed => "self-test failed",
        UpdateError.ResetBeforeConfirm => "reset before confirming",
        UpdateError.StorageFailure => "storage failure",
        UpdateError.OverBudget => "over the board's budget",
        _ => "error " + error,
    };

    private sealed class Progress
    {
        public string State = "waiting";
        public int Attempts;
        public int NextOffset;
        public long BytesSent;
        public string? LastError;
        public long DueMs;

        public NodeUpdateStatus Status(string node) => new(node, State, Attempts, NextOffset, BytesSent, LastError);
    }

    private sealed class Job(int boardClass, long sequence, byte[] payload, float[] golden, string stateFile)
    {
        public int BoardClass { get; } = boardClass;

        public long Sequence { get; } = sequence;

        public byte[] Payload { get; } = payload;

        public float[] Golden { get; } = golden;

        public string StateFile { get; } = stateFile;

        public Dictionary<string, Progress> Nodes { get; } = new(StringComparer.Ordinal);
    }
}
