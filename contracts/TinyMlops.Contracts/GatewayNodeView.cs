using System;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;

namespace TinyMlops.Contracts;

/// <summary>
/// One node as its gateway knows it (<c>GET /api/nodes</c>): whether it has a login there, when it last sent
/// anything, and what its last telemetry said (the model it runs and its update state). Null fields were never seen.
/// </summary>
public sealed record GatewayNodeView(string Id, bool Login, DateTimeOffset? LastSeen, long? ModelId, long? ModelVersion, string? UpdateState, long? Windows, long? Events)
{
    /// <summary>The view of node <paramref name="id"/> from the gateway's store; a telemetry frame that does not decode is left out.</summary>
    public static GatewayNodeView Of(string id, bool login, long? lastSeenMs, byte[]? telemetry)
    {
        TelemetryMessage? t = null;
        if (telemetry != null)
        {
            try
            {
                t = WireCodec.Decode(telemetry, 0, telemetry.Length) as TelemetryMessage;
            }
            catch (WireFormatException)
            {
                // Stored as received; the intake already refused frames that do not decode.
            }
        }

        return new GatewayNodeView(id, login, lastSeenMs is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null,
            t?.ModelId, t?.ModelVersion, t == null ? null : StateName(t.UpdateState), t?.Windows, t?.Events);
    }

    /// <summary>The name of a node's update state code.</summary>
    public static string StateName(int state) => state switch
    {
        Firmware.Core.Updates.UpdateState.Idle => "idle",
        Firmware.Core.Updates.UpdateState.Downloading => "downloading",
        Firmware.Core.Updates.UpdateState.PendingVerify => "pending-verify",
        Firmware.Core.Updates.UpdateState.Confirmed => "confirmed",
        Firmware.Core.Updates.UpdateState.RolledBack => "rolled-back",
        Firmware.Core.Updates.UpdateState.Refused => "refused",
        _ => $"state {state}",
    };
}
