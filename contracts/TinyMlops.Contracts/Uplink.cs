using System.Collections.Generic;

namespace TinyMlops.Contracts;

/// <summary>
/// One POST from a gateway to its trainer's ingestion service (<c>POST /api/ingest</c>, JSON). Delivery is
/// at-least-once: a batch may arrive again after a timeout, so the ingestion service files each record once by
/// <see cref="UplinkRecord.Id"/> and counts the rest as duplicates.
/// </summary>
public sealed class UplinkBatch
{
    /// <summary>The sending gateway.</summary>
    public string GatewayId { get; set; } = "";

    /// <summary>Verified events, oldest first.</summary>
    public List<UplinkRecord> Records { get; set; } = new();
}

/// <summary>An event window the gateway verified, with what it knows about it.</summary>
public sealed class UplinkRecord
{
    /// <summary>Stable id: <c>{node}-{boot}-{sequence}</c> (<see cref="RecordNames.IsRecordIdOf"/>), the same on every delivery.</summary>
    public string Id { get; set; } = "";

    /// <summary>Node id.</summary>
    public string Node { get; set; } = "";

    /// <summary>The node's boot count when it sent the event.</summary>
    public uint Boot { get; set; }

    /// <summary>The node's message sequence number within that boot.</summary>
    public uint Sequence { get; set; }

    /// <summary>Node clock at the window, Unix ms (0 if its clock was not set).</summary>
    public long TimestampMs { get; set; }

    /// <summary>Gateway clock when the event was stored, Unix ms.</summary>
    public long ReceivedMs { get; set; }

    /// <summary>Detector model id on the node.</summary>
    public uint ModelId { get; set; }

    /// <summary>Detector model version on the node.</summary>
    public uint ModelVersion { get; set; }

    /// <summary>The detector's score in real units.</summary>
    public float DetectorScore { get; set; }

    /// <summary>Sample rate of the window.</summary>
    public int SampleRateHz { get; set; }

    /// <summary>Samples per axis.</summary>
    public int WindowLength { get; set; }

    /// <summary>The window's features as the node computed them.</summary>
    public float[] Features { get; set; } = [];

    /// <summary>x, y, z in g, axis-major (all x, then y, then z).</summary>
    public float[] Samples { get; set; } = [];

    /// <summary>The gateway verifier's answer.</summary>
    public UplinkVerdict Verdict { get; set; } = new();

    /// <summary>A label an operator confirmed, or null.</summary>
    public string? Label { get; set; }
}

/// <summary>The verifier's answer for one window.</summary>
public sealed class UplinkVerdict
{
    /// <summary>Class index in the verifier's classes.</summary>
    public int ClassId { get; set; }

    /// <summary>Class name.</summary>
    public string Label { get; set; } = "";

    /// <summary>True unless the class is "healthy".</summary>
    public bool IsFault { get; set; }

    /// <summary>Probability of the class.</summary>
    public float Probability { get; set; }

    /// <summary>Verifier model version.</summary>
    public long VerifierVersion { get; set; }
}

/// <summary>The ingestion service's answer to a batch.</summary>
public sealed class IngestResult
{
    /// <summary>Records filed for the first time.</summary>
    public int Accepted { get; set; }

    /// <summary>Records already filed (a redelivery).</summary>
    public int Duplicates { get; set; }

    /// <summary>Records already filed that came again with an operator's label, now filed under it.</summary>
    public int Relabelled { get; set; }

    /// <summary>Records refused, with reasons in <see cref="Errors"/>.</summary>
    public int Rejected { get; set; }

    /// <summary>Why records were refused.</summary>
    public List<string> Errors { get; set; } = new();

    /// <summary>Each refused record's id and reason, so the gateway holds exactly those back.</summary>
    public List<RefusedRecord> Refused { get; set; } = new();
}

/// <summary>A record the ingestion service would not file.</summary>
public sealed class RefusedRecord
{
    /// <summary>The record's id as sent.</summary>
    public string Id { get; set; } = "";

    /// <summary>Why.</summary>
    public string Reason { get; set; } = "";
}

/// <summary>How a gateway proves who it is to the trainer: <c>Authorization: Bearer {gatewayId}.{token}</c>.</summary>
public static class GatewayAuth
{
    /// <summary>The header value for <paramref name="gatewayId"/> and its <paramref name="token"/>.</summary>
    public static string BearerValue(string gatewayId, string token) => gatewayId + "." + token;

    /// <summary>Splits a bearer value at its last '.' (tokens are base64url, without dots).</summary>
    public static bool TryParse(string? bearer, out string gatewayId, out string token)
    {
        gatewayId = token = "";
        int dot = bearer?.LastIndexOf('.') ?? -1;
        if (bearer == null || dot <= 0 || dot == bearer.Length - 1)
        {
            return false;
        }

        gatewayId = bearer[..dot];
        token = bearer[(dot + 1)..];
        return RecordNames.IsValidId(gatewayId);
    }
}
