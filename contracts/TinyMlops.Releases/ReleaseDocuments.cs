using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyMlops.Releases;

/// <summary>
/// What a root key says of a release-signing key: whose it is, its public half, from when until when it may sign,
/// and its place in the rotation (a higher sequence replaces every lower one; a gateway that has seen sequence n
/// refuses releases signed under a certificate below n). Signed with the root key in a <see cref="SignedEnvelope"/>.
/// </summary>
public sealed record SigningKeyCertificate
{
    /// <summary>Envelope payload type of a certificate.</summary>
    public const string PayloadType = "application/vnd.tinymlops.signing-key.v1+json";

    /// <summary>Vendor id the key signs for.</summary>
    [JsonPropertyName("vendor")]
    public string Vendor { get; init; } = "";

    /// <summary>Id of the certified key (<see cref="KeyIds.Of(byte[])"/> of <see cref="PublicKey"/>).</summary>
    [JsonPropertyName("keyId")]
    public string KeyId { get; init; } = "";

    /// <summary>SubjectPublicKeyInfo of the P-256 key, base64.</summary>
    [JsonPropertyName("publicKey")]
    public string PublicKey { get; init; } = "";

    /// <summary>Rotation counter, from 1.</summary>
    [JsonPropertyName("sequence")]
    public int Sequence { get; init; }

    /// <summary>Start of validity.</summary>
    [JsonPropertyName("notBefore")]
    public DateTimeOffset NotBefore { get; init; }

    /// <summary>End of validity.</summary>
    [JsonPropertyName("notAfter")]
    public DateTimeOffset NotAfter { get; init; }

    /// <summary>Id of the root key that signs this certificate.</summary>
    [JsonPropertyName("rootKeyId")]
    public string RootKeyId { get; init; } = "";
}

/// <summary>
/// One release, in the spirit of SUIT (RFC 9019/9124) and TUF/Uptane: for whom (vendor, board class), in what order
/// (a monotonic sequence), what it carries (each artifact's size and SHA-256, so nothing is trusted before it is
/// checked), how a node proves the model runs (golden vectors), what a gateway must be to take it, and the model
/// card's figures it was released on. Signed with a certified signing key in a <see cref="SignedEnvelope"/>.
/// </summary>
public sealed record ReleaseManifest
{
    /// <summary>Envelope payload type of a release manifest.</summary>
    public const string PayloadType = "application/vnd.tinymlops.release.v1+json";

    /// <summary>Vendor id.</summary>
    [JsonPropertyName("vendor")]
    public string Vendor { get; init; } = "";

    /// <summary>Board class the release is for (the model header's board class; 0 = any).</summary>
    [JsonPropertyName("boardClass")]
    public int BoardClass { get; init; }

    /// <summary>Release sequence: above every earlier release of this vendor and board class.</summary>
    [JsonPropertyName("sequence")]
    public long Sequence { get; init; }

    /// <summary>When it was signed.</summary>
    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; init; }

    /// <summary>Lowest gateway version (major.minor.patch) that may install it.</summary>
    [JsonPropertyName("minGatewayVersion")]
    public string MinGatewayVersion { get; init; } = "0.0.0";

    /// <summary>Registry version the release was made from.</summary>
    [JsonPropertyName("modelVersion")]
    public string ModelVersion { get; init; } = "";

    /// <summary>What the release carries.</summary>
    [JsonPropertyName("artifacts")]
    public IReadOnlyList<ReleaseArtifact> Artifacts { get; init; } = [];

    /// <summary>Golden inputs for the node's self-test: rows of the detector's input length, row-major.</summary>
    [JsonPropertyName("goldenInputs")]
    public float[] GoldenInputs { get; init; } = [];

    /// <summary>Agreement a new verifier must reach in shadow before it is promoted (0..1).</summary>
    [JsonPropertyName("shadowAgreement")]
    public double ShadowAgreement { get; init; }

    /// <summary>The model card's figures the release was judged on (name to value).</summary>
    [JsonPropertyName("figures")]
    public IReadOnlyDictionary<string, double> Figures { get; init; } = new Dictionary<string, double>();

    /// <summary>The artifact named <paramref name="name"/>, or null.</summary>
    public ReleaseArtifact? Artifact(string name)
    {
        foreach (ReleaseArtifact a in Artifacts)
        {
            if (string.Equals(a.Name, name, StringComparison.Ordinal))
            {
                return a;
            }
        }

        return null;
    }
}

/// <summary>One file of a release.</summary>
/// <param name="Name">File name (no folders).</param>
/// <param name="Role">What it is: <c>detector</c> (the node's int8 model), <c>verifier</c> (the gateway's ONNX model), <c>card</c>, <c>gateway-app</c>.</param>
/// <param name="Size">Bytes.</param>
/// <param name="Sha256">SHA-256, lower-case hex.</param>
public sealed record ReleaseArtifact(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256);

/// <summary>A signed release as it travels: the signing key's certificate and the manifest, each in its envelope.</summary>
public sealed class SignedRelease
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>A release of <paramref name="certificate"/> and <paramref name="manifest"/>.</summary>
    public SignedRelease(SignedEnvelope certificate, SignedEnvelope manifest)
    {
        Certificate = certificate;
        Manifest = manifest;
    }

    /// <summary>The signing key's certificate, signed by the root key.</summary>
    public SignedEnvelope Certificate { get; }

    /// <summary>The manifest, signed by the certified key.</summary>
    public SignedEnvelope Manifest { get; }

    /// <summary>As one JSON document (<c>certificate</c>, <c>manifest</c>).</summary>
    public byte[] ToJson()
    {
        using var buffer = new System.IO.MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WritePropertyName("certificate");
            JsonDocument.Parse(Certificate.ToJson()).WriteTo(w);
            w.WritePropertyName("manifest");
            JsonDocument.Parse(Manifest.ToJson()).WriteTo(w);
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Reads a release document; throws <see cref="ReleaseException"/> (<see cref="ReleaseError.Malformed"/>).</summary>
    public static SignedRelease Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using JsonDocument d = JsonDocument.Parse(json.ToArray());
            if (d.RootElement.ValueKind != JsonValueKind.Object || !d.RootElement.TryGetProperty("certificate", out JsonElement c) || !d.RootElement.TryGetProperty("manifest", out JsonElement m))
            {
                throw new ReleaseException(ReleaseError.Malformed, "a release document needs a certificate and a manifest");
            }

            return new SignedRelease(SignedEnvelope.Parse(System.Text.Encoding.UTF8.GetBytes(c.GetRawText())), SignedEnvelope.Parse(System.Text.Encoding.UTF8.GetBytes(m.GetRawText())));
        }
        catch (JsonException e)
        {
            throw new ReleaseException(ReleaseError.Malformed, "not a release document: " + e.Message);
        }
    }

    internal static T Read<T>(byte[] payload, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(payload, Json) ?? throw new ReleaseException(ReleaseError.Malformed, what + " is empty");
        }
        catch (JsonException e)
        {
            throw new ReleaseException(ReleaseError.Malformed, what + " does not parse: " + e.Message);
        }
    }

    internal static byte[] Write<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Json);
}
