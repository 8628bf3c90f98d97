using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Intake;
using TinyMlops.Gateway.Storage;

namespace TinyMlops.Gateway.Verification;

/// <summary>
/// Verifies stored events in batches with the current verifier, stores each verdict, sends it to the node and
/// raises the alarm on a confirmed fault. On start it re-queues what was stored but not verified before a restart,
/// and it installs a new verifier whenever the model file changes (a model that fails to load is logged, counted
/// and ignored: the old one stays). A stored frame that no longer decodes, or an event the verifier fails on alone,
/// is quarantined with its reason; the rest flows on.
/// </summary>
public sealed class VerificationWorker(
    IOptions<GatewayOptions> options, EventIntake intake, GatewayStore store, VerifierHost verifier, INodeLink link,
    GatewayMetrics metrics, ILogger<VerificationWorker> log, AlarmPanel? alarms = null) : SupervisedWorker("verification")
{
    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    private const int MaxDeferred = 10_000;
    private readonly Queue<PendingEvent> _deferred = new();
    private (DateTime Stamp, long Length) _modelSeen;

    /// <summary>Checks the model file now; true when a new verifier was installed.</summary>
    public bool ReloadModel()
    {
        string path = options.Value.Verifier.ModelFile;
        if (!File.Exists(path))
        {
            return false;
        }

        var info = new FileInfo(path);
        (DateTime, long) seen = (info.LastWriteTimeUtc, info.Length);
        if (seen == _modelSeen)
        {
            return false;
        }

        _modelSeen = seen;
        try
        {
            VerifierModel model = VerifierModel.Load(File.ReadAllBytes(path), path);
            verifier.Install(model);
            metrics.VerifierVersion = model.Version;
            RequeueDeferred();
            log.LogInformation("verifier {Path} version {Version} installed: {Classes}", path, model.Version, string.Join(",", model.Classes));
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            metrics.CountModelLoadFailure();
            log.LogError("verifier {Path} not installed, keeping version {Old}: {Message}", path, verifier.Current?.Version, e.Message);
            return false;
        }
    }

    /// <summary>Keeps an event the verifier gave no answer for until another verifier is installed.</summary>
    private void Defer(PendingEvent e)
    {
        lock (_deferred)
        {
            if (_deferred.Count < MaxDeferred)
            {
                _deferred.Enqueue(e); // beyond the cap it is still pending in the store, and re-queued at the next start
            }
        }
    }

    private void RequeueDeferred()
    {
        lock (_deferred)
        {
            while (_deferred.TryDequeue(out PendingEvent? e))
            {
                intake.Requeue(e);
            }
        }
    }

    /// <summary>Re-queues what was stored but not verified (after a restart); quarantines rows whose frame no longer decodes.</summary>
    private void RequeueStored()
    {
        foreach (StoredEvent e in store.PendingVerification(int.MaxValue))
        {
            if (Decode(e) is EventMessage m)
            {
                intake.Requeue(new PendingEvent(e, m, System.Diagnostics.Stopwatch.GetTimestamp()));
            }
        }
    }

    /// <summary>
    /// The stored frame of <paramref name="e"/> decoded as an event, or null after quarantining the row (a flipped
    /// bit on the SD card, a row written by something else): one bad row must not stop the queue behind it.
    /// </summary>
    private EventMessage? Decode(StoredEvent e)
    {
        try
        {
            if (WireCodec.Decode(e.Frame, 0, e.Frame.Length) is EventMessage m)
            {
                return m;
            }

            QuarantineRow(store, metrics, log, e.Id, "not_an_event", "stored frame is not an event");
        }
        catch (WireFormatException x)
        {
            QuarantineRow(store, metrics, log, e.Id, "undecodable_frame", x.Message);
        }

        return null;
    }

    /// <summary>Quarantines row <paramref name="id"/>, counting and logging why.</summary>
    internal static void QuarantineRow(GatewayStore store, GatewayMetrics metrics, ILogger log, string id, string reason, string detail)
    {
        store.Quarantine(id, reason, detail);
        metrics.CountQuarantined(reason);
        log.LogError("event {Id} quarantined: {Reason}: {Detail}", id, reason, detail);
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        ReloadModel();
        RequeueStored();
        using var reload = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.Verifier.ReloadCheckSeconds));
        _ = Task.Run(async () =>
        {
            try
            {
                while (await reload.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    ReloadModel();
                    alarms?.Tick(DateTimeOffset.UtcNow);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                metrics.CountWorkerFault("model_reload");
                log.LogError(e, "verifier reload loop stopped");
            }
        }, stoppingToken);

        var batch = new List<PendingEvent>();
        int max = options.Value.Verifier.MaxBatch;
        try
        {
            while (await intake.ToVerify.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                while (batch.Count < max && intake.ToVerify.TryRead(out PendingEvent? e))
                {
                    batch.Add(e);
                }

                if (!await VerifyAsync(batch, stoppingToken).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false); // no verifier yet: keep the batch
                    continue;
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<bool> VerifyAsync(List<PendingEvent> batch, CancellationToken ct)
    {
        Verification[]? results;
        long version;
        try
        {
            (results, version) = Run(batch);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (batch.Count == 1)
            {
                verifier.Record(verifier.Current?.Version ?? 0, 0, 1);
                QuarantineRow(store, metrics, log, batch[0].Stored.Id, "verification_failed", e.Message);
                return true;
            }

            // One event broke the run: verify them one at a time so only that one is set aside.
            log.LogWarning("verifying a batch of {Count} failed ({Message}); verifying one at a time", batch.Count, e.Message);
            foreach (PendingEvent one in batch.ToArray())
            {
                if (!await VerifyAsync(new List<PendingEvent> { one }, ct).ConfigureAwait(false))
                {
                    return false;
                }

                batch.Remove(one);
            }

            return true;
        }

        if (results == null)
        {
            return false;
        }

        return await DeliverAsync(batch, results, version, ct).ConfigureAwait(false);
    }

    private (Verification[]? Results, long Version) Run(List<PendingEvent> batch) =>
        verifier.With(model =>
        {
            if (model == null)
            {
                return ((Verification[]?)null, 0L);
            }

            var answers = new Verification[batch.Count];
            var rows = new List<int>();
            for (int i = 0; i < batch.Count; i++)
            {
                if (batch[i].Message.Features.Length == model.InputLength)
                {
                    rows.Add(i);
                }
                else
                {
                    answers[i] = new Verification(Verification.Unverifiable, "unverifiable", false, 0);
                }
            }

            var features = new float[rows.Count * model.InputLength];
            for (int r = 0; r < rows.Count; r++)
            {
                batch[rows[r]].Message.Features.CopyTo(features, r * model.InputLength);
            }

            if (rows.Count > 0)
            {
                Verification[] v = model.Verify(features, rows.Count);
                int failed = 0;
                for (int r = 0; r < rows.Count; r++)
                {
                    answers[rows[r]] = v[r];
                    failed += v[r].ClassId == Verification.NonFinite ? 1 : 0;
                }

                verifier.Record(model.Version, rows.Count - failed, failed);
            }

            return (answers, model.Version);
        });

    private async Task<bool> DeliverAsync(List<PendingEvent> batch, Verification[] results, long version, CancellationToken ct)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var verdicts = new List<(string, StoredVerdict)>(batch.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            Verification v = results[i];
            if (v.ClassId == Verification.NonFinite)
            {
                continue;
            }

            verdicts.Add((batch[i].Stored.Id, new StoredVerdict(v.ClassId, v.Label, v.IsFault, v.Probability, version, now)));
        }

        try
        {
            store.SaveVerdicts(verdicts);
        }
        catch (StorageFullException e)
        {
            metrics.CountStorageFull();
            log.LogError("store full, verdicts kept in memory and retried: {Message}", e.Message);
            return false;
        }

        for (int i = 0; i < batch.Count; i++)
        {
            PendingEvent e = batch[i];
            Verification v = results[i];
            if (v.ClassId == Verification.NonFinite)
            {
                // No verdict: the event stays pending in the store and waits for the next verifier (or a restart).
                metrics.CountVerifierFailure();
                Defer(e);
                continue;
            }

            if (v.ClassId < 0)
            {
                metrics.CountRejected("feature_count_changed");
                continue;
            }

            var verdict = new VerdictMessage
            {
                Sequence = e.Message.Sequence,
                TimestampMs = now,
                EventSequence = e.Message.Sequence,
                VerifierVersion = (uint)version,
                ClassId = v.ClassId,
                IsFault = v.IsFault,
                Probability = v.Probability,
                Label = v.Label,
            };
            try
            {
                await link.PublishAsync(new Topics(e.Stored.Node).Verdict, WireCodec.Encode(verdict), ct).ConfigureAwait(false);
                metrics.CountVerdictSent();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The verdict is stored and goes up to the trainer either way; the node only misses the echo.
                log.LogWarning("verdict for {Id} not delivered to {Node}: {Message}", e.Stored.Id, e.Stored.Node, ex.Message);
            }

            metrics.CountVerified(e.Stored.Node, v.IsFault, System.Diagnostics.Stopwatch.GetElapsedTime(e.StoredTicks).TotalMilliseconds);
            if (v.IsFault)
            {
                alarms?.Raise(e.Stored.Node, v.Label, DateTimeOffset.UtcNow);
            }
        }

        return true;
    }
}
