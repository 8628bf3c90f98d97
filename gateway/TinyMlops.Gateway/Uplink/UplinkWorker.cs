using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Contracts;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Storage;

namespace TinyMlops.Gateway.Uplink;

/// <summary>
/// Sends verified events (window, features, verdict, label) to the trainer's ingestion service, oldest first, and
/// marks them forwarded only when the trainer answered. At-least-once: a batch whose answer was lost is sent again,
/// and the trainer files it once by record id. While the trainer is unreachable everything waits in the store,
/// with retries backing off up to <see cref="UplinkOptions.MaxRetrySeconds"/>.
/// </summary>
public sealed class UplinkWorker(IOptions<GatewayOptions> options, GatewayStore store, GatewayMetrics metrics, HttpClient http, ILogger<UplinkWorker> log) : BackgroundService
{
    /// <summary>Sends one batch; returns how many records the trainer took (0 when nothing was pending).</summary>
    public async Task<int> SendOnceAsync(CancellationToken ct)
    {
        GatewayOptions o = options.Value;
        var pending = store.PendingUplink(o.Uplink.BatchSize);
        if (pending.Count == 0)
        {
            return 0;
        }

        var batch = new UplinkBatch { GatewayId = o.GatewayId, Records = pending.Select(p => ToRecord(p.Event, p.Verdict, p.Label)).ToList() };
        using HttpResponseMessage response = await http.PostAsJsonAsync(new Uri(new Uri(o.Uplink.TrainerUrl!), "api/ingest"), batch, ct).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        IngestResult result = await response.Content.ReadFromJsonAsync<IngestResult>(ct).ConfigureAwait(false) ?? new IngestResult();
        if (result.Rejected > 0)
        {
            log.LogWarning("trainer refused {Count} records: {Errors}", result.Rejected, string.Join("; ", result.Errors.Take(5)));
        }

        // Refused records are marked too: resending the same bytes cannot change the trainer's mind.
        store.MarkForwarded(pending.Select(p => p.Event.Id));
        metrics.CountForwarded(result.Accepted);
        return pending.Count;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrEmpty(options.Value.Uplink.TrainerUrl))
        {
            log.LogInformation("no trainer configured: events stay on this gateway");
            return;
        }

        TimeSpan delay = TimeSpan.FromMilliseconds(500);
        long nextPrune = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (Environment.TickCount64 >= nextPrune)
            {
                Prune();
                nextPrune = Environment.TickCount64 + 60_000;
            }

            try
            {
                int sent = await SendOnceAsync(stoppingToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(500);
                if (sent > 0)
                {
                    continue;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                metrics.CountUplinkFailure();
                log.LogWarning("trainer unreachable ({Message}); {Pending} records wait, retry in {Delay:F1} s", e.Message, store.Counts().ToForward, delay.TotalSeconds);
                delay = TimeSpan.FromSeconds(Math.Min(options.Value.Uplink.MaxRetrySeconds, delay.TotalSeconds * 2));
            }
            catch (StorageFullException e)
            {
                metrics.CountStorageFull();
                log.LogError("store full while marking forwarded records: {Message}", e.Message);
            }

            try
            {
                await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Deletes forwarded events older than the retention, a chunk at a time so event commits are not held up.</summary>
    public int Prune()
    {
        long cutoff = DateTimeOffset.UtcNow.AddHours(-options.Value.RetainForwardedHours).ToUnixTimeMilliseconds();
        int total = 0;
        try
        {
            int deleted;
            do
            {
                deleted = store.PruneForwarded(cutoff, 1000);
                total += deleted;
            }
            while (deleted == 1000);
        }
        catch (StorageFullException e)
        {
            metrics.CountStorageFull();
            log.LogError("store full while pruning forwarded events: {Message}", e.Message);
        }

        metrics.CountPruned(total);
        return total;
    }

    /// <summary>The uplink record of a stored event.</summary>
    public static UplinkRecord ToRecord(StoredEvent e, StoredVerdict v, string? label)
    {
        var m = (EventMessage)WireCodec.Decode(e.Frame, 0, e.Frame.Length);
        var samples = new float[m.Samples.Length];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = m.Samples[i] * m.SampleScale;
        }

        return new UplinkRecord
        {
            Id = e.Id,
            Node = e.Node,
            Sequence = e.Sequence,
            TimestampMs = e.TimestampMs,
            ReceivedMs = e.ReceivedMs,
            ModelId = m.ModelId,
            ModelVersion = m.ModelVersion,
            DetectorScore = m.RealScore,
            SampleRateHz = m.SampleRateHz,
            WindowLength = m.WindowLength,
            Features = m.Features,
            Samples = samples,
            Verdict = new UplinkVerdict { ClassId = v.ClassId, Label = v.Label, IsFault = v.IsFault, Probability = v.Probability, VerifierVersion = v.VerifierVersion },
            Label = label,
        };
    }
}
