using System;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using TinyMlops.Releases;
using Xunit;

namespace TinyMlops.Releases.Tests;

/// <summary>
/// Gateway application releases: the manifest's own payload type (a model release is not an application release),
/// its target checks, and a bundle that is unpacked only when it holds nothing but plain files inside its folder.
/// </summary>
public sealed class AppReleaseTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tinymlops-app-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void An_application_release_verifies_for_its_runtime_only_and_a_model_manifest_is_not_one()
    {
        KeyStore keys = KeyStore.Create(Path.Combine(_dir, "keys"), Path.Combine(_dir, "offline"), "acme", TimeSpan.FromDays(365), Now);
        var verifier = new ReleaseVerifier(keys.RootPublicKey(), "acme", [2], new Version(0, 1, 0));
        byte[] bundle = Encoding.ASCII.GetBytes("pretend bundle");
        var artifact = new ReleaseArtifact("gw.tar.gz", "gateway-app", bundle.Length, Convert.ToHexStringLower(SHA256.HashData(bundle)));
        GatewayAppManifest manifest = new() { Vendor = "acme", Runtime = "linux-arm64", Sequence = 3, Created = Now, AppVersion = "0.2.0", Artifacts = [artifact] };
        SignedRelease signed = keys.Sign(manifest);

        (GatewayAppManifest m, _) = verifier.VerifyApp(SignedRelease.Parse(signed.ToJson()), new ReleaseTrustState(0, 2), "linux-arm64", Now);
        Assert.Equal("0.2.0", m.AppVersion);
        Assert.Equal(ReleaseError.WrongTarget, Assert.Throws<ReleaseException>(() => verifier.VerifyApp(signed, new ReleaseTrustState(0, 0), "linux-x64", Now)).Error);
        Assert.Equal(ReleaseError.Rollback, Assert.Throws<ReleaseException>(() => verifier.VerifyApp(signed, new ReleaseTrustState(0, 3), "linux-arm64", Now)).Error);

        // The same keys' model release presented as an application release, and the other way round: the payload types differ.
        SignedRelease model = keys.Sign(new ReleaseManifest { Vendor = "acme", BoardClass = 2, Sequence = 4, Created = Now, MinGatewayVersion = "0.1.0", ModelVersion = "m", Artifacts = [artifact] });
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => verifier.VerifyApp(model, new ReleaseTrustState(0, 0), "linux-arm64", Now)).Error);
        Assert.Equal(ReleaseError.BadSignature, Assert.Throws<ReleaseException>(() => verifier.Verify(signed, new ReleaseTrustState(0, 0), Now)).Error);
    }

    [Fact]
    public void A_bundle_round_trips_and_one_that_reaches_outside_its_folder_or_carries_links_is_refused_with_nothing_left()
    {
        string publish = Path.Combine(_dir, "publish");
        Directory.CreateDirectory(Path.Combine(publish, "boards"));
        File.WriteAllText(Path.Combine(publish, AppBundle.EntryAssembly), "entry");
        File.WriteAllText(Path.Combine(publish, "boards", "rpi4.json"), "{}");
        byte[] bundle = AppBundle.Pack(publish, new AppBundleInfo("0.3.0", "linux-x64"));
        string target = Path.Combine(_dir, "unpacked");
        Assert.Equal(new AppBundleInfo("0.3.0", "linux-x64"), AppBundle.Unpack(new MemoryStream(bundle), target));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(target, "boards", "rpi4.json")));
        Assert.Equal("0.3.0", AppBundle.Installed(target)!.AppVersion);

        foreach ((string what, Action<TarWriter> write) in new (string, Action<TarWriter>)[]
        {
            ("dot-dot", w => TarFile(w, "../escaped", "x")),
            ("absolute", w => TarFile(w, "/etc/escaped", "x")),
            ("symlink", w => w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "boards") { LinkName = "/etc" })),
            ("hard link", w => w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "passwd") { LinkName = "/etc/passwd" })),
            ("no bundle.json", w => TarFile(w, AppBundle.EntryAssembly, "entry")),
        })
        {
            using var buffer = new MemoryStream();
            using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
            {
                write(tar);
            }

            string dest = Path.Combine(_dir, "bad-" + what.Replace(' ', '-'));
            ReleaseException e = Assert.Throws<ReleaseException>(() => AppBundle.Unpack(new MemoryStream(buffer.ToArray()), dest));
            Assert.Equal(ReleaseError.Malformed, e.Error);
            Assert.False(Directory.Exists(dest), what);
        }

        Assert.False(File.Exists(Path.Combine(_dir, "escaped")));
        string truncated = Path.Combine(_dir, "truncated");
        Assert.Equal(ReleaseError.Malformed, Assert.Throws<ReleaseException>(() => AppBundle.Unpack(new MemoryStream(bundle[..(bundle.Length / 2)]), truncated)).Error);
        Assert.False(Directory.Exists(truncated));
        Assert.Equal(ReleaseError.Malformed, Assert.Throws<ReleaseException>(() => AppBundle.Unpack(new MemoryStream(RandomNumberGenerator.GetBytes(5000)), Path.Combine(_dir, "random"))).Error);
    }

    private static void TarFile(TarWriter w, string name, string content) =>
        w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.ASCII.GetBytes(content)) });
}
