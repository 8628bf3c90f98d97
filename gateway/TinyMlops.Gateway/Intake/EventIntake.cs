using System.Buffers;
using System.Threading.Channels;
using System.Threading.Tasks;
using System;
using Microsoft.Extensions.Logging;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Verification;

namespace TinyMlops.Gateway.Intake;

/// <summary>What became of a message from a node.</summary>
public enum IntakeStatus
{
    /// <summary>Stored (or harmlessly a redelivery): acknowledge it.</summary>
    Accepted,

    /// <summary>Refused for good (bad or unauthorised input): acknowledge it so it is not resent, and drop it.</summary>
    Rejected,

    /// <summary>Could not be stored now (full disk): do not acknowledge; the node will send it again.</summary>
    Unavailable,
}

/// <summary>An event on its way to the verifier.</summary>
/// <param name="Stored">As stored.</param>
/// <param name="Message">Decoded.</param>
/// <param name="StoredTicks">When it was committed (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>, for the latency figure).</param>
public sealed record PendingEvent(StoredEvent Stored, EventMessage Message, long StoredTicks);

/// <summary>
/// Every message a node sends comes through here, whichever broker carried it: topic and sender checked, size
/// limited, frame decoded, then events stored (acknowledged only once on disk) and queued for verification.
/// Refusals are logged and counted under a reason. Thread-safe.
/// </summary>
public sealed class EventIntake(GatewayStore store, NodeRegistry nodes, VerifierHost verifier, GatewayMetrics metrics, MqttOptions mqtt, ILogger<EventIntake> log)
{
    private readonly Channel<PendingEvent> _toVerify = Channel.CreateUnbounded<PendingEvent>(new UnboundedChannelOptions { SingleReader = true });

    private readonly Channel<(string Node, OtaStatusMessage Status)> _otaStatuses = Channel.CreateBounded<(string, OtaStatusMessage)>(
        new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    /// <summary>Nodes' update statuses, for the node update relay (the oldest are dropped if it falls behind: nodes repeat them).</summary>
    public ChannelReader<(string Node, OtaStatusMessage Status)> OtaStatuses => _otaStatuses.Reader;

    /// <summary>Stored events waiting for the verifier.</summary>
    public ChannelReader<PendingEvent> ToVerify => _toVerify.Reader;

    /// <summary>Queues an already-stored event (recovery after a restart).</summary>
    public void Requeue(PendingEvent e) => _toVerify.Writer.TryWrite(e);

    /// <summary>
    /// Handles one publish on <paramref name="topic"/>. <paramref name="sender"/> is the authenticated node (null when
    /// an external broker's ACL already checked it).
    /// </summary>
    public async Task<IntakeStatus> HandleAsync(string? sender, string topic, ReadOnlySequence<byte> payload)
    {
        if (!TopicAcl.TryParseUplink(topic, out string node, out string kind))
        {
            return Reject("bad_topic", sender ?? "?", $"topic '{LogText.Safe(topic, 160)}' is not tinymlops/{{node}}/up/{{kind}}");
        }

        if (sender != null && !string.Equals(sender, node, StringComparison.Ordinal))
        {
            return Reject("foreign_topic", sender, $"published on {node}'s topic");
        }

        if (!nodes.IsKnown(node))
        {
            return Reject("unknown_node", node, "not in the nodes file");
        }

        if (payload.Length > mqtt.MaxPayloadBytes)
        {
            return Reject("oversized", node, $"{payload.Length} B payload exceeds {mqtt.MaxPayloadBytes} B");
        }

        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        metrics.Seen(node, now);
        if (kind == "status")
        {
            return IntakeStatus.Accepted; // "online"/"offline" (the last will): last-seen is all it tells
        }

        byte[] frame = payload.ToArray();
        WireMessage message;
        try
        {
            message = WireCodec.Decode(frame, 0, frame.Length);
        }
        catch (WireFormatException e)
        {
            return Reject("malformed_" + SnakeCase(e.Code.ToString()), node, e.Message);
        }

        switch (kind, message)
        {
            case ("event", EventMessage ev):
                return await StoreEventAsync(node, ev, frame, now).ConfigureAwait(false);
            case ("telemetry", TelemetryMessage):
                return Touch(node, now, frame);
            case ("ota-status", OtaStatusMessage status):
                _otaStatuses.Writer.TryWrite((node, status));
                return Touch(node, now, null);
            default:
                return Reject("wrong_message_type", node, $"message type {message.Type} on '{kind}'");
        }
    }

    private async Task<IntakeStatus> StoreEventAsync(string node, EventMessage ev, byte[] frame, long now)
    {
        int expected = verifier.Current?.InputLength ?? ev.Features.Length;
        if (ev.Features.Length != expected)
        {
            return Reject("wrong_feature_count", node, $"{ev.Features.Length} features, the verifier takes {expected}");
        }

        // Identity is (node, boot, sequence): the node's clock may be unset (0) or wrong, so it is only flagged.
        if (!IsPlausibleClock(ev.TimestampMs, now))
        {
            metrics.CountImplausibleClock();
        }

        var stored = new StoredEvent(StoredEvent.MakeId(node, ev.Boot, ev.Sequence), node, ev.Boot, ev.Sequence, ev.TimestampMs, now, frame);
        try
        {
            AddResult result = await store.AddEventAsync(stored).ConfigureAwait(false);
            if (result == AddResult.Collision)
            {
                // Same id, other bytes: a new event from a node that lost its boot count. Stored, never dropped.
                string taken = stored.Id;
                stored = stored with { Id = StoredEvent.CollisionId(stored.Id, frame) };
                result = await store.AddEventAsync(stored).ConfigureAwait(false);
                if (result == AddResult.Collision)
                {
                    return Reject("id_collision", node, $"{stored.Id} collides twice");
                }

                if (result == AddResult.Added)
                {
                    metrics.CountIdCollision(); // once per event, not per redelivery of it
                    log.LogWarning("event id {Id} from {Node} is taken by another window (boot count lost?); stored as {NewId}", taken, node, stored.Id);
                }
            }

            metrics.CountReceived();
            metrics.CountStored(result == AddResult.Duplicate);
            if (result == AddResult.Added)
            {
                _toVerify.Writer.TryWrite(new PendingEvent(stored, ev, System.Diagnostics.Stopwatch.GetTimestamp()));
            }

            return IntakeStatus.Accepted;
        }
        catch (StorageFullException e)
        {
            metrics.CountStorageFull();
            log.LogError("store full, event {Id} from {Node} not acknowledged: {Message}", stored.Id, node, e.Message);
            return IntakeStatus.Unavailable;
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or System.IO.IOException)
        {
            metrics.CountRejected("storage_error");
            log.LogError(e, "store failed, event {Id} from {Node} not acknowledged", stored.Id, node);
            return IntakeStatus.Unavailable;
        }
    }

    /// <summary>
    /// True when a node's timestamp can be believed: set (not 0) and between 2020 and a day after the gateway's own
    /// clock. Others are kept as sent but counted, and never used to name or order events.
    /// </summary>
    public static bool IsPlausibleClock(long timestampMs, long gatewayNowMs) =>
        timestampMs >= 1_577_836_800_000 && timestampMs <= gatewayNowMs + 86_400_000;

    private IntakeStatus Touch(string node, long now, byte[]? telemetry)
    {
        try
        {
            store.TouchNode(node, now, telemetry);
        }
        catch (StorageFullException)
        {
            metrics.CountStorageFull(); // telemetry is advisory: the next one will do
        }

        return IntakeStatus.Accepted;
    }

    private IntakeStatus Reject(string reason, string node, string detail)
    {
        metrics.CountRejected(reason);
        log.LogWarning("refused a message from {Node}: {Reason}: {Detail}", node, reason, detail);
        return IntakeStatus.Rejected;
    }

    private static string SnakeCase(string name) => string.Concat(System.Linq.Enumerable.Select(name, (c, i) => i > 0 && char.IsUpper(c) ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
