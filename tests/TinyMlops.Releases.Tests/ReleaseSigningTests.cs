using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using TinyMlops.Contracts;
using TinyMlops.Releases;
using Xunit;

namespace TinyMlops.Releases.Tests;

public sealed class ReleaseSigningTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Year = TimeSpan.FromDays(365);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tinymlops-keys-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private string Keys => Path.Combine(_dir, "keys");

    private string Offline => Path.Combine(_dir, "offline");

    private static readonly byte[] Detector = Encoding.ASCII.GetBytes("pretend this is an int8 model blob");

    private static ReleaseManifest Manifest(long sequence, string vendor = "acme", int boardClass = 2, string minGateway = "0.1.0") => new()
    {
        Vendor = vendor,
        BoardClass = boardClass,
        Sequence = sequence,
        Created = Now,
        MinGatewayVersion = minGateway,
        ModelVersion = "fan-detector@3",
        Artifacts = [new ReleaseArtifact("detector.tmlm", "detector", Detector.Length, Convert.ToHexStringLower(SHA256.HashData(Detector)))],
        GoldenInputs = [0.5f, -1.25f],
        ShadowAgreement = 0.95,
        Figures = new Dictionary<string, double> { ["recall"] = 0.97 },
    };

    private ReleaseVerifier Gateway(KeyStore keys, string version = "0.1.0") => new(keys.RootPublicKey(), "acme", [2], Version.Parse(version));

    [Fact]
    public void The_envelope_signs_DSSE_pre_authentication_bytes()
    {
        // DSSE's own example: type "http://example.com/HelloWorld", body "hello world".
        Assert.Equal("DSSEv1 29 http://example.com/HelloWorld 11 hello world",
            Encoding.ASCII.GetString(SignedEnvelope.PreAuthenticationEncoding("http://example.com/HelloWorld", Encoding.ASCII.GetBytes("hello world"))));
    }

    [Fact]
    public void A_release_signed_under_the_root_verifies_and_its_artifacts_are_checked()
    {
        KeyStore keys = KeyStore.Create(Keys, Offline, "acme", Year, Now);
        SignedRelease release = SignedRelease.Parse(keys.Sign(Manifest(1)).ToJson()); // as it travels

        VerifiedRelease v = Gateway(keys).Verify(release, new ReleaseTrustState(0, 0), Now.AddDays(1));
        Assert.Equal(1, v.Manifest.Sequence);
        Assert.Equal(1, v.Key.Sequence);
        ReleaseArtifact a = v.Manifest.Artifact("detector.tmlm")!;
        ReleaseVerifier.CheckArtifact(a, new MemoryStream(Detector));

        byte[] flipped = (byte[])Detector.Clone();
        flipped[3] ^= 1;
        Assert.Equal(ReleaseError.DigestMismatch, Assert.Throws<ReleaseException>(() => ReleaseVerifier.CheckArtifact(a, new MemoryStream(flipped))).Error);
        Assert.Equal(ReleaseError.DigestMismatch, Assert.Throws<ReleaseException>(() => ReleaseVerifier.CheckArtifact(a, new MemoryStream(Detector[..^1]))).Error);
        Assert.Equal(ReleaseError.DigestMismatch, Assert.Throws<ReleaseException>(() => ReleaseVerifier.CheckArtifact(a, new MemoryStream([.. Detector, 0]))).Error);
    }

    [Fact]
    public void Tampering_anywhere_in_the_chain_is_refused()
    {
        KeyStore keys = KeyStore.Create(Keys, Offline, "acme", Year, Now);
        SignedRelease good = keys.Sign(Manifest(1));
        ReleaseVerifier gateway = Gateway(keys);
        var fresh = new ReleaseTrustState(0, 0);

        // A manifest edited after signing (a bigger sequence, say).
        byte[] edited = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(good.Manifest.Payload).Replace("\"sequence\": 1", "\"sequence\": 9", StringComparison.Ordinal));
        Assert.NotEqual(good.Manifest.Payload, edited);
        var tampered = new SignedRelease(good.Certificate, new SignedEnvelope(good.Manifest.PayloadType, edited, good.Manifest.Signatures));
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => gateway.Verify(tampered, fresh, Now)).Error);

        // A certificate signed as something else (the same bytes under another payload type).
        var retyped = new SignedRelease(new SignedEnvelope(ReleaseManifest.PayloadType, good.Certificate.Payload, good.Certificate.Signatures), good.Manifest);
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => gateway.Verify(retyped, fresh, Now)).Error);

        // A manifest signed by a key the root never certified.
        using ECDsa stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string certifiedId = SignedRelease.Parse(good.ToJson()).Manifest.Signatures[0].KeyId;
        var forged = new SignedRelease(good.Certificate, SignedEnvelope.Sign(ReleaseManifest.PayloadType, good.Manifest.Payload, stranger, certifiedId));
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => gateway.Verify(forged, fresh, Now)).Error);

        // A whole chain from another root.
        KeyStore other = KeyStore.Create(Path.Combine(_dir, "other"), Path.Combine(_dir, "other-offline"), "acme", Year, Now);
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => gateway.Verify(other.Sign(Manifest(1)), fresh, Now)).Error);

        // Not a release at all.
        Assert.Equal(ReleaseError.Malformed, Assert.Throws<ReleaseException>(() => SignedRelease.Parse(Encoding.UTF8.GetBytes("{\"certificate\": 3"))).Error);
        Assert.Equal(ReleaseError.Malformed, Assert.Throws<ReleaseException>(() => SignedRelease.Parse(Encoding.UTF8.GetBytes("{\"certificate\": {}, \"manifest\": {}}"))).Error);
    }

    [Fact]
    public void Releases_for_someone_else_or_out_of_order_are_refused()
    {
        KeyStore keys = KeyStore.Create(Keys, Offline, "acme", Year, Now);
        ReleaseVerifier gateway = Gateway(keys);
        Assert.Equal(ReleaseError.Rollback, Assert.Throws<ReleaseException>(() => gateway.Verify(keys.Sign(Manifest(4)), new ReleaseTrustState(1, 4), Now)).Error);
        Assert.Equal(ReleaseError.WrongTarget, Assert.Throws<ReleaseException>(() => gateway.Verify(keys.Sign(Manifest(5, boardClass: 7)), new ReleaseTrustState(1, 4), Now)).Error);
        Assert.Equal(ReleaseError.GatewayTooOld, Assert.Throws<ReleaseException>(() => gateway.Verify(keys.Sign(Manifest(5, minGateway: "0.2.0")), new ReleaseTrustState(1, 4), Now)).Error);
        Assert.Equal(ReleaseError.KeyExpired, Assert.Throws<ReleaseException>(() => gateway.Verify(keys.Sign(Manifest(5)), new ReleaseTrustState(1, 4), Now + Year + TimeSpan.FromDays(1))).Error);
        Assert.Throws<ArgumentException>(() => keys.Sign(Manifest(5, vendor: "globex")));

        SignedRelease escaping = keys.Sign(Manifest(5) with { Artifacts = [new ReleaseArtifact("../../etc/passwd", "detector", 1, new string('a', 64))] });
        Assert.Equal(ReleaseError.Malformed, Assert.Throws<ReleaseException>(() => gateway.Verify(escaping, new ReleaseTrustState(1, 4), Now)).Error);
        Assert.Equal(5, gateway.Verify(keys.Sign(Manifest(5)), new ReleaseTrustState(1, 4), Now).Manifest.Sequence);
    }

    [Fact]
    public void Rotating_the_signing_key_needs_the_root_key_and_retires_the_old_key_without_touching_gateways()
    {
        KeyStore keys = KeyStore.Create(Keys, Offline, "acme", Year, Now);
        ReleaseVerifier gateway = Gateway(keys); // trusts the root only
        SignedRelease underOld = keys.Sign(Manifest(1));

        // Only the offline root key can certify a new key.
        Assert.Equal(ReleaseError.KeyFile, Assert.Throws<ReleaseException>(() => keys.Rotate(Path.Combine(_dir, "nowhere.key"), Year, Now)).Error);
        KeyStore.Create(Path.Combine(_dir, "k2"), Path.Combine(_dir, "o2"), "acme", Year, Now);
        Assert.Equal(ReleaseError.KeyFile, Assert.Throws<ReleaseException>(() => keys.Rotate(Path.Combine(_dir, "o2", KeyStore.RootKeyFile), Year, Now)).Error);

        SigningKeyCertificate second = keys.Rotate(Path.Combine(Offline, KeyStore.RootKeyFile), Year, Now.AddDays(30));
        Assert.Equal(2, second.Sequence);
        Assert.Single(Directory.GetFiles(Keys, "signing-*.key")); // the old private key is gone
        VerifiedRelease v = gateway.Verify(keys.Sign(Manifest(2)), new ReleaseTrustState(1, 1), Now.AddDays(31));
        Assert.Equal(2, v.Key.Sequence);

        // Once a gateway has seen certificate 2, a release signed under certificate 1 is refused.
        Assert.Equal(ReleaseError.KeyRevoked, Assert.Throws<ReleaseException>(() => gateway.Verify(underOld, new ReleaseTrustState(2, 0), Now.AddDays(31))).Error);
    }

    [Fact]
    public void Private_keys_are_owner_only_and_refused_when_exposed_or_corrupt()
    {
        KeyStore keys = KeyStore.Create(Keys, Offline, "acme", Year, Now);
        string root = Path.Combine(Offline, KeyStore.RootKeyFile);
        string signing = Directory.GetFiles(Keys, "signing-*.key")[0];
        Assert.False(SecretFile.IsExposed(root));
        Assert.False(SecretFile.IsExposed(signing));
        Assert.False(File.Exists(Path.Combine(Keys, KeyStore.RootKeyFile))); // the root's private half never sits beside the signing key
        Assert.Throws<ReleaseException>(() => KeyStore.Create(Keys, Offline, "acme", Year, Now)); // no second root over the first

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(signing, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            Assert.Equal(ReleaseError.KeyFile, Assert.Throws<ReleaseException>(() => keys.Sign(Manifest(1))).Error);
            File.SetUnixFileMode(signing, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        SecretFile.WriteAllText(signing, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        ReleaseException e = Assert.Throws<ReleaseException>(() => keys.Sign(Manifest(1)));
        Assert.Equal(ReleaseError.KeyFile, e.Error);
        Assert.Contains(signing, e.Message, StringComparison.Ordinal);
    }
}
