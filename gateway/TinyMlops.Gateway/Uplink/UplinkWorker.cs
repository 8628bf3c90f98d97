using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Storage;

namespace TinyMlops.Gateway.Uplink;

/// <summary>
/// Sends verified events (window, features, verdict, label) to the trainer's ingestion service, oldest first,
/// authenticated with this gateway's credential, and marks them forwarded only when the trainer answered.
/// At-least-once: a batch whose answer was lost is sent again, and the trainer files it once by record id. While the
/// trainer is unreachable everything waits in the store, with retries backing off up to
/// <see cref="UplinkOptions.MaxRetrySeconds"/>. Records the trainer refuses are held with its reason (not resent
/// until relabelled); a stored row that cannot be turned into a record is quarantined; and when the answer cannot be
/// recorded (full disk) the filed ids are kept in memory and marking is retried, with back-off, before anything is
/// posted again, so the trainer is not sent the same batch over and over.
/// </summary>
public sealed class UplinkWorker(IOptions<GatewayOptions> options, GatewayStore store, GatewayMetrics metrics, HttpClient http, ILogger<UplinkWorker> log)
    : SupervisedWorker("uplink")
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private List<string> _filedNotMarked = new();
    private List<(string Id, string Reason)> _refusedNotMarked = new();

    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    /// <summary>
    /// Sends one batch (or first records the answer to the last one, if that could not be stored); returns how
    /// many records the trainer answered for (0 when nothing was pending).
    /// </summary>
    /// <exception cref="StorageFullException">The trainer's answer could not be recorded; it is kept and retried.</exception>
    /// <exception cref="HttpRequestException">The trainer could not be reached or refused the request.</exception>
    public async Task<int> SendOnceAsync(CancellationToken ct)
    {
        if (_filedNotMarked.Count > 0 || _refusedNotMarked.Count > 0)
        {
            RecordAnswer(); // throws again while the disk is still full: nothing new is posted meanwhile
        }

        GatewayOptions o = options.Value;
        var pending = store.PendingUplink(o.Uplink.BatchSize);
        if (pending.Count == 0)
        {
            return 0;
        }

        var records = new List<(string Id, byte[] Json)>(pending.Count);
        foreach ((StoredEvent e, StoredVerdict v, string? label) in pending)
        {
            try
            {
                records.Add((e.Id, JsonSerializer.SerializeToUtf8Bytes(ToRecord(e, v, label), Json)));
            }
            catch (Exception x) when (x is WireFormatException or InvalidDataException or JsonException or ArgumentException or NotSupportedException)
            {
                Verification.VerificationWorker.QuarantineRow(store, metrics, log, e.Id, "unsendable_record", x.Message);
            }
        }

        if (records.Count == 0)
        {
            return pending.Count;
        }

        IngestResult result = await PostAsync(o, records, ct).ConfigureAwait(false);
        var refused = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (RefusedRecord r in result.Refused)
        {
            refused[r.Id] = r.Reason;
        }

        if (result.Rejected > 0)
        {
            metrics.CountUplinkRefused(result.Rejected);
            log.LogWarning("trainer refused {Count} records, held until relabelled: {Errors}", result.Rejected, string.Join("; ", result.Errors.Take(5).Select(e => LogText.Safe(e, 200))));
        }

        _filedNotMarked = records.Where(r => !refused.ContainsKey(r.Id)).Select(r => r.Id).ToList();
        _refusedNotMarked = refused.Select(kv => (kv.Key, kv.Value)).ToList();
        metrics.CountForwarded(result.Accepted);
        RecordAnswer();
        return pending.Count;
    }

    private void RecordAnswer()
    {
        try
        {
            if (_refusedNotMarked.Count > 0)
            {
                store.MarkRefused(_refusedNotMarked);
                _refusedNotMarked = new();
            }

            if (_filedNotMarked.Count > 0)
            {
                store.MarkForwarded(_filedNotMarked);
                _filedNotMarked = new();
            }
        }
        catch (StorageFullException)
        {
            metrics.CountUplinkMarkFailure();
            throw;
        }
    }

    private async Task<IngestResult> PostAsync(GatewayOptions o, List<(string Id, byte[] Json)> records, CancellationToken ct)
    {
        // Each record was serialised on its own above (a bad one is quarantined, not the batch); the batch is their concatenation.
        using var body = new MemoryStream();
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteString("gatewayId", o.GatewayId);
            w.WriteStartArray("records");
            foreach ((_, byte[] json) in records)
            {
                w.WriteRawValue(json, skipInputValidation: true);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(o.Uplink.TrainerUrl!), "api/ingest"))
        {
            Content = new ByteArrayContent(body.ToArray()) { Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") } },
        };
        string? token = ReadCredential(o.Uplink.CredentialFile);
        if (token != null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", GatewayAuth.BearerValue(o.GatewayId, token));
        }

        using HttpResponseMessage response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            throw new HttpRequestException($"the trainer refused this gateway's credential ({(int)response.StatusCode}): issue one with 'tinymlops gateways add {o.GatewayId}' and set Gateway:Uplink:CredentialFile", null, response.StatusCode);
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<IngestResult>(ct).ConfigureAwait(false) ?? new IngestResult();
    }

    /// <summary>The gateway's trainer credential from <paramref name="file"/> (null when none is configured).</summary>
    internal static string? ReadCredential(string? file)
    {
        if (string.IsNullOrEmpty(file))
        {
            return null;
        }

        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HttpRequestException($"gateway credential {file} cannot be read: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
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

            bool failed = false;
            try
            {
                int sent = await SendOnceAsync(stoppingToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(500);
                metrics.UplinkBackoffSeconds = 0;
                if (sent > 0)
                {
                    continue;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                failed = true;
                metrics.CountUplinkFailure();
                log.LogWarning("trainer unreachable ({Message}); {Pending} records wait, retry in {Delay:F1} s", e.Message, store.Counts().ToForward, delay.TotalSeconds);
            }
            catch (StorageFullException e)
            {
                failed = true;
                metrics.CountStorageFull();
                log.LogError("store full while recording the trainer's answer, retry in {Delay:F1} s (nothing is re-sent meanwhile): {Message}", delay.TotalSeconds, e.Message);
            }

            if (failed)
            {
                metrics.UplinkBackoffSeconds = delay.TotalSeconds;
            }

            try
            {
                await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (failed)
            {
                delay = TimeSpan.FromSeconds(Math.Min(options.Value.Uplink.MaxRetrySeconds, delay.TotalSeconds * 2));
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
    /// <exception cref="WireFormatException">The stored frame no longer decodes.</exception>
    /// <exception cref="InvalidDataException">The frame decodes to something that is not a sendable event.</exception>
    public static UplinkRecord ToRecord(StoredEvent e, StoredVerdict v, string? label)
    {
        // Re-validated on the way out: the row may have been damaged on the card since it was stored.
        if (WireCodec.Decode(e.Frame, 0, e.Frame.Length) is not EventMessage m)
        {
            throw new InvalidDataException("stored frame is not an event");
        }

        var samples = new float[m.Samples.Length];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = m.Samples[i] * m.SampleScale;
        }

        if (!float.IsFinite(v.Probability))
        {
            throw new InvalidDataException("stored verdict probability is not finite");
        }

        return new UplinkRecord
        {
            Id = e.Id,
            Node = e.Node,
            Boot = e.Boot,
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
