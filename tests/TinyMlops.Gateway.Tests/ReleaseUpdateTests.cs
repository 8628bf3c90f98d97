using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using MQTTnet;
using TinyMlops.Gateway.Releases;
using TinyMlops.Gateway.Verification;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.TrainerService;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>
/// The gateway's auto-update against the real trainer service: a signed release is verified, downloaded, run in
/// shadow on the gateway's stored windows and promoted; a release that disagrees in shadow, one whose artifact the
/// trainer serves corrupted, and one signed by a stranger's key are refused with their reason, the verifier in use
/// stays, and every step reaches the trainer's registry.
/// </summary>
public class ReleaseUpdateTests
{
    private const int BoardClass = 1;

    [Fact]
    public async Task A_signed_verifier_is_shadowed_promoted_and_bad_releases_are_refused_with_their_reason()
    {
        string root = Harness.Temp("releases");
        KeyStore keys = KeyStore.Create(Path.Combine(root, "keys"), Path.Combine(root, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        string registryDir = Path.Combine(root, "registry"), store = Path.Combine(root, "store");
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            registry.AssignGateway("gw-test", [BoardClass]);
        }

        int trainerPort = Harness.FreePort();
        await using WebApplication trainer = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{trainerPort}",
            ["Trainer:RegistryDirectory"] = registryDir,
            ["Ingestion:StoreDirectory"] = store,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        await trainer.StartAsync();

        string gatewayDir = Harness.Temp("gateway");
        RunningGateway.Prepare(gatewayDir);
        Contracts.SecretFile.WriteAllText(Path.Combine(gatewayDir, "trainer.credential"), Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-test"));
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/", s =>
        {
            s["Gateway:Releases:RootKeyFile"] = Path.Combine(root, "keys", KeyStore.RootPublicFile);
            s["Gateway:Releases:Vendor"] = "acme";
            s["Gateway:Releases:BoardClass"] = BoardClass.ToString();
            s["Gateway:Releases:PollWaitSeconds"] = "1";
            s["Gateway:Releases:MaxRetrySeconds"] = "1";
            s["Gateway:Releases:MinShadowWindows"] = "20";
        }, gatewayDir);

        // Windows on the gateway for a shadow run: 30 events, verified by the verifier it started with.
        using (IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1"))
        {
            for (uint i = 1; i <= 30; i++)
            {
                Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, (i % 2 == 0 ? 1 : -1) * (0.2f + (i / 40f))))).IsSuccess);
            }
        }

        await Harness.Eventually(() => Task.FromResult(g.Get<Storage.GatewayStore>().RecentVerified(100).Count), n => n == 30, "events verified");
        VerifierModel first = g.Get<VerifierHost>().Current!;

        // Release 1: a retrained verifier that agrees with the current one. It is promoted and running.
        byte[] good = Harness.Verifier(2);
        Publish(registryDir, keys, root, good, shadowAgreement: 0.9);
        await Harness.Eventually(() => Task.FromResult($"{g.Get<VerifierHost>().Current!.Version} after [{string.Join(", ", Steps(registryDir, 1))}], last step {g.Get<ReleaseWorker>().LastStep} {string.Join("; ", g.Get<ReleaseWorker>().State.Refused.Values)}, {string.Join(" ", g.Metrics().Result.Split('\n').Where(l => l.StartsWith("tinymlops_gateway_release", StringComparison.Ordinal) || l.StartsWith("tinymlops_gateway_worker", StringComparison.Ordinal)))}"),
            v => v.StartsWith("2 ", StringComparison.Ordinal), "release 1 running", seconds: 60);
        Assert.Equal(good, File.ReadAllBytes(g.ModelFile));
        Assert.True(File.Exists(g.ModelFile + ".previous"));
        Assert.Equal(1, g.Get<ReleaseWorker>().State.InstalledSequence);
        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 1)), s => s.Contains("running"), "release 1 reported");
        Assert.Equal(["fetched", "verified", "downloaded", "shadow_passed", "promoted", "running"], Steps(registryDir, 1));
        Assert.NotSame(first, g.Get<VerifierHost>().Current);

        // Release 2: a verifier that calls faults healthy and healthy faulty. Shadow refuses it; version 2 stays.
        Publish(registryDir, keys, root, Harness.Verifier(3, inverted: true), shadowAgreement: 0.9);
        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 2)), s => s.Contains("refused"), "release 2 refused", seconds: 60);
        Assert.Contains("shadow: agreement", Detail(registryDir, 2, "refused"));
        Assert.Equal(2, g.Get<VerifierHost>().Current!.Version);
        Assert.Equal(good, File.ReadAllBytes(g.ModelFile));

        // Release 3: the trainer's copy of the artifact is damaged after signing. The digest check refuses it.
        byte[] third = Harness.Verifier(4);
        Publish(registryDir, keys, root, third, shadowAgreement: 0.5);
        using (var db = new SqliteConnection($"Data Source={Path.Combine(registryDir, ModelRegistry.DatabaseFile)};Pooling=false"))
        {
            db.Open();
            using SqliteCommand c = db.CreateCommand();
            c.CommandText = "UPDATE blobs SET content = zeroblob(length(content)) WHERE sha256 = @s;";
            c.Parameters.AddWithValue("@s", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(third)));
            Assert.Equal(1, c.ExecuteNonQuery());
        }

        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 3)), s => s.Contains("refused"), "release 3 refused", seconds: 60);
        Assert.Contains("DigestMismatch", Detail(registryDir, 3, "refused"));
        Assert.Equal(2, g.Get<VerifierHost>().Current!.Version);
        Assert.Empty(Directory.GetFiles(Path.Combine(gatewayDir, "releases", "staging"), "*.part"));

        // Release 4: signed by a key the gateway's root never certified.
        KeyStore stranger = KeyStore.Create(Path.Combine(root, "stranger"), Path.Combine(root, "stranger-offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        Publish(registryDir, stranger, root, Harness.Verifier(5), shadowAgreement: 0.5);
        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 4)), s => s.Contains("refused"), "release 4 refused", seconds: 60);
        Assert.Contains("BadSignature", Detail(registryDir, 4, "refused"));
        Assert.Equal(2, g.Get<VerifierHost>().Current!.Version);
        Assert.Equal(1, g.Get<ReleaseWorker>().State.InstalledSequence);
        Assert.Equal([2L, 3L, 4L], g.Get<ReleaseWorker>().State.Refused.Keys.Order());
        Assert.Contains("tinymlops_gateway_release_sequence 1", await g.Metrics());
        Assert.Contains("tinymlops_gateway_release_steps_total{step=\"refused\"} 3", await g.Metrics());
        await trainer.StopAsync();
    }

    [Fact]
    public async Task A_cut_download_resumes_from_its_part_and_a_wrong_part_is_thrown_away()
    {
        string root = Harness.Temp("resume");
        KeyStore keys = KeyStore.Create(Path.Combine(root, "keys"), Path.Combine(root, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        string registryDir = Path.Combine(root, "registry"), store = Path.Combine(root, "store");
        byte[] onnx = Harness.Verifier(7);
        Publish(registryDir, keys, root, onnx, 0.5);
        ReleaseArtifact artifact;
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            registry.AssignGateway("gw-test", [BoardClass]);
            artifact = registry.Models(null)[0].Artifacts.Single(a => a.Role == "verifier");
        }

        string token = Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-test");
        int port = Harness.FreePort();
        await using WebApplication trainer = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Trainer:RegistryDirectory"] = registryDir,
            ["Ingestion:StoreDirectory"] = store,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        await trainer.StartAsync();
        using var http = new System.Net.Http.HttpClient();
        int requests = 0;
        System.Net.Http.HttpRequestMessage Request(string path)
        {
            requests++;
            var m = new System.Net.Http.HttpRequestMessage(System.Net.Http.HttpMethod.Get, new Uri($"http://127.0.0.1:{port}/{path}"));
            m.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "gw-test." + token);
            return m;
        }

        // A restart left the first half: the rest is asked for by range and the file checks out.
        string staging = Path.Combine(root, "staging");
        Directory.CreateDirectory(staging);
        File.WriteAllBytes(Path.Combine(staging, artifact.Sha256 + ".part"), onnx[..(onnx.Length / 2)]);
        string file = await ArtifactDownload.FetchAsync(http, Request, artifact, staging, default);
        Assert.Equal(onnx, File.ReadAllBytes(file));
        Assert.False(File.Exists(file + ".part"));
        Assert.Equal(onnx, File.ReadAllBytes(await ArtifactDownload.FetchAsync(http, Request, artifact, staging, default))); // staged: checked, not fetched
        Assert.Equal(1, requests);

        // A part whose first bytes are not the artifact's: the whole is refused and nothing of it kept.
        File.Delete(file);
        byte[] wrong = (byte[])onnx.Clone();
        wrong[10] ^= 0xFF;
        File.WriteAllBytes(Path.Combine(staging, artifact.Sha256 + ".part"), wrong[..(wrong.Length / 2)]);
        Assert.Equal(ReleaseError.DigestMismatch, (await Assert.ThrowsAsync<ReleaseException>(() => ArtifactDownload.FetchAsync(http, Request, artifact, staging, default))).Error);
        Assert.Empty(Directory.GetFiles(staging));
        Assert.Equal(onnx, File.ReadAllBytes(await ArtifactDownload.FetchAsync(http, Request, artifact, staging, default))); // and the next try starts over

        // A staged file changed on the card since it was checked is refused, not used.
        File.WriteAllBytes(file, wrong);
        await Assert.ThrowsAsync<ReleaseException>(() => ArtifactDownload.FetchAsync(http, Request, artifact, staging, default));
        await trainer.StopAsync();
        Directory.Delete(root, recursive: true);
    }

    private static void Publish(string registryDir, KeyStore keys, string root, byte[] verifier, double shadowAgreement)
    {
        string folder = Path.Combine(root, "model-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "verifier.onnx"), verifier);
        File.WriteAllBytes(Path.Combine(folder, "detector.tmlm"), TestBed.Recordings.EveryWindowSuspicious(Boards.Checkout.FindRoot()));
        File.WriteAllText(Path.Combine(folder, "model-card.json"), """{"board": "esp32-wroom-32", "boardClass": 1, "codeVersion": "test", "dataset": {"contentHash": "test"}}""");
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        RegisteredModel m = registry.Register(folder);
        registry.Publish(m.Version, sequence => keys.Sign(new ReleaseManifest
        {
            Vendor = "acme",
            BoardClass = BoardClass,
            Sequence = sequence,
            Created = DateTimeOffset.UtcNow,
            MinGatewayVersion = ReleaseWorker.GatewayVersion.ToString(3),
            ModelVersion = m.Version,
            Artifacts = m.Artifacts,
            GoldenInputs = new float[36],
            ShadowAgreement = shadowAgreement,
        }), null);
    }

    private static string[] Steps(string registryDir, long sequence)
    {
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        return registry.StatusOf(BoardClass, sequence).Select(s => s.Step).ToArray();
    }

    private static string Detail(string registryDir, long sequence, string step)
    {
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        return registry.StatusOf(BoardClass, sequence).Last(s => s.Step == step).Detail;
    }
}
