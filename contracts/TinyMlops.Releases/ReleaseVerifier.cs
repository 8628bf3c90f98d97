using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;

namespace TinyMlops.Releases;

/// <summary>What a gateway has already accepted: the newest signing-key certificate and the installed release.</summary>
/// <param name="HighestKeySequence">Highest certificate sequence seen (0 before the first).</param>
/// <param name="InstalledSequence">Sequence of the installed release of this board class (0 before the first).</param>
public sealed record ReleaseTrustState(int HighestKeySequence, long InstalledSequence);

/// <summary>A release whose signature chain and fields were checked (its artifacts are checked as they arrive).</summary>
/// <param name="Manifest">The manifest.</param>
/// <param name="Key">The certificate of the key that signed it.</param>
public sealed record VerifiedRelease(ReleaseManifest Manifest, SigningKeyCertificate Key);

/// <summary>
/// The checks a gateway makes before any byte of a release reaches its active area, in TUF's order: the signing key's
/// certificate against the root key it trusts (signature, vendor, validity, not rotated out), then the manifest
/// against the certified key (signature, vendor, board class, a sequence above the installed one, the gateway's
/// version), then each artifact's size and SHA-256 (<see cref="CheckArtifact"/>). Every refusal is a
/// <see cref="ReleaseException"/> naming its <see cref="ReleaseError"/>. Immutable; thread-safe.
/// </summary>
public sealed class ReleaseVerifier
{
    private readonly byte[] _rootKey;
    private readonly string _rootKeyId;
    private readonly string _vendor;
    private readonly HashSet<int> _boardClasses;
    private readonly Version _gatewayVersion;

    /// <summary>
    /// A verifier that trusts root key <paramref name="rootPublicKey"/> (SubjectPublicKeyInfo) for
    /// <paramref name="vendor"/>, accepts releases for <paramref name="boardClasses"/>, and runs as gateway version
    /// <paramref name="gatewayVersion"/>.
    /// </summary>
    public ReleaseVerifier(byte[] rootPublicKey, string vendor, IEnumerable<int> boardClasses, Version gatewayVersion)
    {
        using ECDsa probe = ImportPublic(rootPublicKey, "the root key");
        _rootKey = (byte[])rootPublicKey.Clone();
        _rootKeyId = KeyIds.Of(_rootKey);
        _vendor = vendor;
        _boardClasses = new HashSet<int>(boardClasses);
        _gatewayVersion = gatewayVersion;
    }

    /// <summary>Id of the trusted root key.</summary>
    public string RootKeyId => _rootKeyId;

    /// <summary>Checks <paramref name="release"/> at time <paramref name="now"/> given what was accepted before.</summary>
    public VerifiedRelease Verify(SignedRelease release, ReleaseTrustState state, DateTimeOffset now)
    {
        SigningKeyCertificate cert = VerifyCertificate(release.Certificate, state, now);
        using ECDsa signingKey = ImportPublic(Convert.FromBase64String(cert.PublicKey), "the signing key");
        if (!release.Manifest.IsSignedBy(ReleaseManifest.PayloadType, cert.KeyId, signingKey))
        {
            throw new ReleaseException(ReleaseError.BadSignature, $"the manifest is not signed by the certified key {cert.KeyId}");
        }

        ReleaseManifest m = SignedRelease.Read<ReleaseManifest>(release.Manifest.Payload, "the manifest");
        CheckFields(m);
        if (!string.Equals(m.Vendor, _vendor, StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.WrongTarget, $"the release is for vendor '{m.Vendor}', this gateway's is '{_vendor}'");
        }

        if (m.BoardClass != 0 && !_boardClasses.Contains(m.BoardClass))
        {
            throw new ReleaseException(ReleaseError.WrongTarget, $"the release is for board class {m.BoardClass}, which this gateway does not serve");
        }

        if (m.Sequence <= state.InstalledSequence)
        {
            throw new ReleaseException(ReleaseError.Rollback, $"release {m.Sequence} is not above the installed {state.InstalledSequence}");
        }

        if (Version.Parse(m.MinGatewayVersion) > _gatewayVersion)
        {
            throw new ReleaseException(ReleaseError.GatewayTooOld, $"the release needs gateway {m.MinGatewayVersion}, this is {_gatewayVersion}");
        }

        return new VerifiedRelease(m, cert);
    }

    /// <summary>
    /// Checks a gateway application release for <paramref name="runtime"/> the same way: the chain, the manifest's
    /// payload type (a model manifest is refused here), vendor, runtime, a sequence above the installed application
    /// release, and one bundle artifact.
    /// </summary>
    public (GatewayAppManifest Manifest, SigningKeyCertificate Key) VerifyApp(SignedRelease release, ReleaseTrustState state, string runtime, DateTimeOffset now)
    {
        SigningKeyCertificate cert = VerifyCertificate(release.Certificate, state, now);
        using ECDsa signingKey = ImportPublic(Convert.FromBase64String(cert.PublicKey), "the signing key");
        if (!release.Manifest.IsSignedBy(GatewayAppManifest.PayloadType, cert.KeyId, signingKey))
        {
            throw new ReleaseException(ReleaseError.BadSignature, $"the application manifest is not signed by the certified key {cert.KeyId}");
        }

        GatewayAppManifest m = SignedRelease.Read<GatewayAppManifest>(release.Manifest.Payload, "the application manifest");
        CheckArtifacts(m.Artifacts);
        if (m.Sequence < 1 || m.Artifacts.Count != 1 || m.Artifacts[0].Role != "gateway-app" || !Version.TryParse(m.AppVersion, out _))
        {
            throw new ReleaseException(ReleaseError.Malformed, "the application manifest is invalid: it needs a sequence, an appVersion and one gateway-app artifact");
        }

        if (!string.Equals(m.Vendor, _vendor, StringComparison.Ordinal) || !string.Equals(m.Runtime, runtime, StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.WrongTarget, $"the application release is for vendor '{m.Vendor}' on {m.Runtime}, this gateway is '{_vendor}' on {runtime}");
        }

        if (m.Sequence <= state.InstalledSequence)
        {
            throw new ReleaseException(ReleaseError.Rollback, $"application release {m.Sequence} is not above the installed {state.InstalledSequence}");
        }

        return (m, cert);
    }

    /// <summary>Checks <paramref name="data"/> against <paramref name="artifact"/>'s size and SHA-256.</summary>
    public static void CheckArtifact(ReleaseArtifact artifact, Stream data)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long total = 0;
        int n;
        while ((n = data.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += n;
            if (total > artifact.Size)
            {
                break;
            }

            sha.AppendData(buffer, 0, n);
        }

        if (total != artifact.Size)
        {
            throw new ReleaseException(ReleaseError.DigestMismatch, $"{artifact.Name}: {(total > artifact.Size ? "more than" : total.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bytes, not")} the manifest's {artifact.Size} bytes");
        }

        string digest = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(digest), System.Text.Encoding.ASCII.GetBytes(artifact.Sha256)))
        {
            throw new ReleaseException(ReleaseError.DigestMismatch, $"{artifact.Name}: SHA-256 {digest} is not the manifest's {artifact.Sha256}");
        }
    }

    internal static ECDsa ImportPublic(byte[] subjectPublicKeyInfo, string what)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            if (key.KeySize != 256 || key.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                throw new ReleaseException(ReleaseError.Malformed, what + " is not a P-256 key");
            }

            return key;
        }
        catch (CryptographicException e)
        {
            key.Dispose();
            throw new ReleaseException(ReleaseError.Malformed, what + " is not a public key: " + e.Message);
        }
        catch (ReleaseException)
        {
            key.Dispose();
            throw;
        }
    }

    private static void CheckFields(ReleaseManifest m)
    {
        string? problem = m.Sequence < 1 ? "sequence must be at least 1"
            : m.Artifacts.Count is < 1 or > 32 ? "a release carries 1..32 artifacts"
            : !Version.TryParse(m.MinGatewayVersion, out _) ? $"minGatewayVersion '{m.MinGatewayVersion}' is not a version"
            : !(m.ShadowAgreement is >= 0 and <= 1) ? "shadowAgreement must be within 0..1"
            : null;
        if (problem != null)
        {
            throw new ReleaseException(ReleaseError.Malformed, "the manifest is invalid: " + problem);
        }

        CheckArtifacts(m.Artifacts);
    }

    private static void CheckArtifacts(IReadOnlyList<ReleaseArtifact> artifacts)
    {
        string? problem = null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (ReleaseArtifact a in artifacts)
        {
            problem ??= !IsPlainName(a.Name) ? $"artifact name '{a.Name}' is not a plain file name"
                : !names.Add(a.Name) ? $"artifact '{a.Name}' is listed twice"
                : a.Size is < 0 or > (1L << 31) ? $"artifact '{a.Name}' has size {a.Size}"
                : a.Sha256.Length != 64 || !IsLowerHex(a.Sha256) ? $"artifact '{a.Name}' has no SHA-256"
                : null;
        }

        if (problem != null)
        {
            throw new ReleaseException(ReleaseError.Malformed, "the manifest is invalid: " + problem);
        }
    }

    private static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 100 && name != "." && name != ".." && name.IndexOfAny(['/', '\\', ':', '\0']) < 0 && name.Trim() == name;

    private static bool IsLowerHex(string s)
    {
        foreach (char c in s)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    private SigningKeyCertificate VerifyCertificate(SignedEnvelope envelope, ReleaseTrustState state, DateTimeOffset now)
    {
        using ECDsa root = ImportPublic(_rootKey, "the root key");
        if (!envelope.IsSignedBy(SigningKeyCertificate.PayloadType, _rootKeyId, root))
        {
            throw new ReleaseException(ReleaseError.BadSignature, $"the signing key's certificate is not signed by the trusted root key {_rootKeyId}");
        }

        SigningKeyCertificate cert = SignedRelease.Read<SigningKeyCertificate>(envelope.Payload, "the signing key's certificate");
        byte[] spki;
        try
        {
            spki = Convert.FromBase64String(cert.PublicKey);
        }
        catch (FormatException)
        {
            throw new ReleaseException(ReleaseError.Malformed, "the certified public key is not base64");
        }

        if (cert.Sequence < 1 || !string.Equals(KeyIds.Of(spki), cert.KeyId, StringComparison.Ordinal) || !string.Equals(cert.RootKeyId, _rootKeyId, StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.Malformed, "the certificate's key id, root key id or sequence is wrong");
        }

        if (!string.Equals(cert.Vendor, _vendor, StringComparison.Ordinal))
        {
            throw new ReleaseException(ReleaseError.WrongTarget, $"the signing key is certified for vendor '{cert.Vendor}', this gateway's is '{_vendor}'");
        }

        if (now < cert.NotBefore || now > cert.NotAfter)
        {
            throw new ReleaseException(ReleaseError.KeyExpired, $"signing key {cert.KeyId} is valid {cert.NotBefore:u} .. {cert.NotAfter:u}, not at {now:u}");
        }

        if (cert.Sequence < state.HighestKeySequence)
        {
            throw new ReleaseException(ReleaseError.KeyRevoked, $"signing key {cert.KeyId} (certificate {cert.Sequence}) was rotated out by certificate {state.HighestKeySequence}");
        }

        return cert;
    }
}
