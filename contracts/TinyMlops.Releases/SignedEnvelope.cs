using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyMlops.Releases;

/// <summary>
/// A signed document in the shape of DSSE (the Dead Simple Signing Envelope that in-toto and Sigstore use): the
/// payload travels as the exact bytes that were signed (base64), so nothing is canonicalised, and each signature
/// covers <see cref="PreAuthenticationEncoding"/> of the payload type and the payload, so a signature for one kind of
/// document can never be replayed as another. Signatures are ECDSA P-256 over SHA-256, 64 bytes (r‖s).
/// Immutable; safe to share between threads.
/// </summary>
public sealed class SignedEnvelope
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>An envelope of <paramref name="payload"/> (of <paramref name="payloadType"/>) with <paramref name="signatures"/>.</summary>
    public SignedEnvelope(string payloadType, byte[] payload, IReadOnlyList<EnvelopeSignature> signatures)
    {
        PayloadType = payloadType;
        Payload = payload;
        Signatures = signatures;
    }

    /// <summary>What the payload is (a media type).</summary>
    public string PayloadType { get; }

    /// <summary>The signed bytes.</summary>
    public byte[] Payload { get; }

    /// <summary>Signatures over the payload, each naming its key.</summary>
    public IReadOnlyList<EnvelopeSignature> Signatures { get; }

    /// <summary>DSSE's PAE: <c>"DSSEv1" SP len(type) SP type SP len(body) SP body</c>, lengths in ASCII decimal.</summary>
    public static byte[] PreAuthenticationEncoding(string payloadType, byte[] payload)
    {
        byte[] type = Encoding.UTF8.GetBytes(payloadType);
        byte[] head = Encoding.ASCII.GetBytes($"DSSEv1 {type.Length} ");
        byte[] middle = Encoding.ASCII.GetBytes($" {payload.Length} ");
        var pae = new byte[head.Length + type.Length + middle.Length + payload.Length];
        head.CopyTo(pae, 0);
        type.CopyTo(pae, head.Length);
        middle.CopyTo(pae, head.Length + type.Length);
        payload.CopyTo(pae, head.Length + type.Length + middle.Length);
        return pae;
    }

    /// <summary>Signs <paramref name="payload"/> with <paramref name="key"/> (P-256), naming it <paramref name="keyId"/>.</summary>
    public static SignedEnvelope Sign(string payloadType, byte[] payload, ECDsa key, string keyId)
    {
        byte[] signature = key.SignData(PreAuthenticationEncoding(payloadType, payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new SignedEnvelope(payloadType, payload, [new EnvelopeSignature(keyId, signature)]);
    }

    /// <summary>
    /// True when the envelope is of <paramref name="payloadType"/> and carries a signature by <paramref name="keyId"/>
    /// that verifies with <paramref name="publicKey"/>.
    /// </summary>
    public bool IsSignedBy(string payloadType, string keyId, ECDsa publicKey)
    {
        if (!string.Equals(PayloadType, payloadType, StringComparison.Ordinal))
        {
            return false;
        }

        byte[] pae = PreAuthenticationEncoding(PayloadType, Payload);
        foreach (EnvelopeSignature s in Signatures)
        {
            if (string.Equals(s.KeyId, keyId, StringComparison.Ordinal) && s.Signature.Length == 64
                && publicKey.VerifyData(pae, s.Signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The envelope as JSON (<c>payloadType</c>, <c>payload</c>, <c>signatures[{keyid, sig}]</c>, base64).</summary>
    public byte[] ToJson()
    {
        var wire = new Wire
        {
            PayloadType = PayloadType,
            Payload = Convert.ToBase64String(Payload),
            Signatures = Signatures.Select(s => new WireSignature { KeyId = s.KeyId, Sig = Convert.ToBase64String(s.Signature) }).ToList(),
        };
        return JsonSerializer.SerializeToUtf8Bytes(wire, Json);
    }

    /// <summary>Reads an envelope; throws <see cref="ReleaseException"/> (<see cref="ReleaseError.Malformed"/>) for anything that is not one.</summary>
    public static SignedEnvelope Parse(ReadOnlySpan<byte> json)
    {
        Wire? wire;
        try
        {
            wire = JsonSerializer.Deserialize<Wire>(json);
        }
        catch (JsonException e)
        {
            throw new ReleaseException(ReleaseError.Malformed, "not a signed envelope: " + e.Message);
        }

        if (wire?.PayloadType is not { Length: > 0 } type || wire.Payload == null || wire.Signatures is not { Count: > 0 and <= 16 } signatures)
        {
            throw new ReleaseException(ReleaseError.Malformed, "a signed envelope needs payloadType, payload and 1..16 signatures");
        }

        try
        {
            var list = new List<EnvelopeSignature>();
            foreach (WireSignature s in signatures)
            {
                list.Add(new EnvelopeSignature(s.KeyId ?? "", Convert.FromBase64String(s.Sig ?? "")));
            }

            return new SignedEnvelope(type, Convert.FromBase64String(wire.Payload), list);
        }
        catch (FormatException)
        {
            throw new ReleaseException(ReleaseError.Malformed, "a signed envelope's payload or signature is not base64");
        }
    }

    private sealed class Wire
    {
        [JsonPropertyName("payloadType")]
        public string? PayloadType { get; set; }

        [JsonPropertyName("payload")]
        public string? Payload { get; set; }

        [JsonPropertyName("signatures")]
        public List<WireSignature>? Signatures { get; set; }
    }

    private sealed class WireSignature
    {
        [JsonPropertyName("keyid")]
        public string? KeyId { get; set; }

        [JsonPropertyName("sig")]
        public string? Sig { get; set; }
    }
}

/// <summary>One signature of an envelope.</summary>
/// <param name="KeyId">The signing key's id (<see cref="KeyIds.Of"/>).</param>
/// <param name="Signature">ECDSA P-256 signature, r‖s, 64 bytes.</param>
public sealed record EnvelopeSignature(string KeyId, byte[] Signature);

/// <summary>Key ids: the first 16 bytes of the SHA-256 of the public key's SubjectPublicKeyInfo, in lower-case hex.</summary>
public static class KeyIds
{
    /// <summary>The id of <paramref name="key"/>'s public half.</summary>
    public static string Of(ECDsa key) => Of(key.ExportSubjectPublicKeyInfo());

    /// <summary>The id of the public key <paramref name="subjectPublicKeyInfo"/>.</summary>
    public static string Of(byte[] subjectPublicKeyInfo) => Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo).AsSpan(0, 16));
}
