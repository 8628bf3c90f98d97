using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using MQTTnet;
using TinyMlops.Boards;
using TinyMlops.Contracts;
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
        await using ReleaseBed bed = await ReleaseBed.Start("releases");
        (string root, KeyStore keys, string registryDir, WebApplication trainer, string gatewayDir) = (bed.Root, bed.Keys, bed.RegistryDir, bed.Trainer, bed.GatewayDir);
        await using RunningGateway g = await RunningGateway.Start(bed.TrainerUrl, s => TakeReleases(s, root, minShadowWindows: 20), gatewayDir);

        // Windows on the gateway for a shadow run: 30 events, verified by the verifier it started with.
        using (IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1"))
        {
            await StoreWindows(g, node, 30);
        }
        VerifierModel first = g.Get<VerifierHost>().Current!;

        // Release 1: a retrained verifier that agrees with the current one. It is promoted and running.
        byte[] good = Harness.Verifier(2);
        Publish(registryDir, keys, root, good, shadowAgreement: 0.9);
        await Harness.Eventually(() => Task.FromResult($"{g.Get<VerifierHost>().Current!.Version} after [{string.Join(", ", Steps(registryDir, 1))}], last step {g.Get<ReleaseWorker>().LastStep} {string.Join("; ", g.Get<ReleaseWorker>().State.Refused.Values)}, {string.Join(" ", g.Metrics().Result.Split('\n').Where(l => l.StartsWith("tinymlops_gateway_release", StringComparison.Ordinal) || l.StartsWith("tinymlops_gateway_worker", StringComparison.Ordinal)))}"),
            v => v.StartsWith("2 ", StringComparison.Ordinal), "release 1 running", seconds: 60);
        Assert.Equal(good, File.ReadAllBytes(g.ModelFile));
        Assert.True(File.Exists(g.ModelFile + ".previous"));
        Assert.Equal(1, g.Get<ReleaseWorker>().State.InstalledSequence);
        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 1)), s => s.Contains("healthy"), "release 1 through probation");
        Assert.Equal(["fetched", "verified", "downloaded", "shadow_passed", "promoted", "running", "healthy"], Steps(registryDir, 1));
        Assert.Contains("no events in 1 s of probation", Detail(registryDir, 1, "healthy"));
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
    public async Task Signed_random_bytes_or_a_truncated_model_are_refused_before_anything_is_installed_or_relayed()
    {
        await using ReleaseBed bed = await ReleaseBed.Start("unsound");
        await using RunningGateway g = await RunningGateway.Start(bed.TrainerUrl, s => TakeReleases(s, bed.Root, minShadowWindows: 1), bed.GatewayDir);
        byte[] original = File.ReadAllBytes(g.ModelFile);
        VerifierModel first = g.Get<VerifierHost>().Current!;
        byte[] detector = TestBed.Recordings.EveryWindowSuspicious(Boards.Checkout.FindRoot());

        // Each is signed by the trainer's real key, so only the gateway's own checks of the content can stop it. The
        // gateway takes the newest release, so each is published once the one before is refused.
        Action[] releases =
        [
            () => Publish(bed.RegistryDir, bed.Keys, bed.Root, System.Security.Cryptography.RandomNumberGenerator.GetBytes(4096), shadowAgreement: 0.5),
            () => Publish(bed.RegistryDir, bed.Keys, bed.Root, Harness.Verifier(2), shadowAgreement: 0.5, detector: System.Security.Cryptography.RandomNumberGenerator.GetBytes(detector.Length)),
            () => Publish(bed.RegistryDir, bed.Keys, bed.Root, Harness.Verifier(3), shadowAgreement: 0.5, detector: detector[..(detector.Length / 2)]),
            () => Publish(bed.RegistryDir, bed.Keys, bed.Root, Harness.Verifier(4), shadowAgreement: 0.5, golden: new float[35]),
        ];
        for (int i = 0; i < releases.Length; i++)
        {
            releases[i]();
            long s = i + 1;
            await Harness.Eventually(() => Task.FromResult(string.Join(",", Steps(bed.RegistryDir, s))), x => x.Contains("refused"), $"release {s} refused", seconds: 60);
            Assert.DoesNotContain("promoted", Steps(bed.RegistryDir, s));
        }

        Assert.Contains("the verifier does not load", Detail(bed.RegistryDir, 1, "refused"));
        Assert.Contains("the detector does not run its golden inputs", Detail(bed.RegistryDir, 2, "refused"));
        Assert.Contains("the detector does not run its golden inputs", Detail(bed.RegistryDir, 3, "refused"));
        Assert.Contains("golden inputs must be", Detail(bed.RegistryDir, 4, "refused"));
        Assert.Same(first, g.Get<VerifierHost>().Current);
        Assert.Equal(original, File.ReadAllBytes(g.ModelFile));
        Assert.Equal(0, g.Get<ReleaseWorker>().State.InstalledSequence);
        Assert.Equal([1L, 2L, 3L, 4L], g.Get<ReleaseWorker>().State.Refused.Keys.Order());
        Assert.Empty(Directory.GetDirectories(Path.Combine(bed.GatewayDir, "releases"), $"{BoardClass}-*")); // nothing kept for the node relay
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
        await using WebApplication trainer = await StartTrainer(registryDir, store, port);
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

    [Fact]
    public async Task Nodes_get_the_release_under_their_own_key_and_a_node_reset_mid_download_resumes()
    {
        BoardProfile wroom = BoardProfile.Load("esp32-wroom-32");
        int features = 3 * (4 + wroom.Sampling!.Bands);
        string root = Harness.Temp("relay");
        string repo = Boards.Checkout.FindRoot();
        KeyStore keys = KeyStore.Create(Path.Combine(root, "keys"), Path.Combine(root, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        string registryDir = Path.Combine(root, "registry"), store = Path.Combine(root, "store");
        byte[] detector2 = TestBed.Recordings.EveryWindowSuspicious(repo, 2);
        float[] golden = Enumerable.Range(0, 4 * features).Select(i => (float)(2 * Math.Sin(i * 0.37))).ToArray();
        Publish(registryDir, keys, root, Harness.Verifier(1, features), 0.9); // release 1: what the nodes were provisioned with
        Publish(registryDir, keys, root, Harness.Verifier(2, features), 0.9, detector2, golden);
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            registry.AssignGateway("gw-test", [BoardClass]);
            registry.StartRollout(BoardClass, 2, RolloutPlan.ParseGroups("100%"), successThreshold: 0.6, abortFailureRate: 0.5);
        }

        int trainerPort = Harness.FreePort();
        await using WebApplication trainer = await StartTrainer(registryDir, store, trainerPort);
        string gatewayDir = Harness.Temp("gateway");
        RunningGateway.Prepare(gatewayDir);
        File.WriteAllBytes(Path.Combine(gatewayDir, "verifier.onnx"), Harness.Verifier(1, features));
        var passwords = new Dictionary<string, string>(Harness.Passwords) { ["node-a"] = "pw-a", ["node-b"] = "pw-b", ["node-c"] = "pw-c" };
        NodeRegistry.Write(Path.Combine(gatewayDir, "nodes.json"), passwords, iterations: 1000);
        string nodeKeys = Path.Combine(gatewayDir, "node-keys.json");
        byte[] keyA = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), keyB = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        NodeKeys.Register(nodeKeys, "node-a", keyA, BoardClass);
        NodeKeys.Register(nodeKeys, "node-b", keyB, BoardClass);
        NodeKeys.Register(nodeKeys, "node-c", keyA, BoardClass); // registered with the wrong key: its manifests fail its MAC check
        NodeKeys.Register(nodeKeys, "node-s3", keyB, 2); // another board class: never offered this release
        Contracts.SecretFile.WriteAllText(Path.Combine(gatewayDir, "trainer.credential"), Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-test"));

        // Both nodes run release 1's detector; node-b had staged half of release 2 when it reset.
        string folderA = Path.Combine(root, "node-a"), folderB = Path.Combine(root, "node-b");
        byte[] detector1 = TestBed.Recordings.EveryWindowSuspicious(repo, 1);
        TestBed.SimulatedNode.Install(folderA, wroom, "node-a", keyA, detector1, 1);
        TestBed.SimulatedNode.Install(folderB, wroom, "node-b", keyB, detector1, 1);
        string folderC = Path.Combine(root, "node-c");
        byte[] keyC = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        TestBed.SimulatedNode.Install(folderC, wroom, "node-c", keyC, detector1, 1);
        var staged = new Firmware.Core.Updates.ModelUpdater(TestBed.SimulatedNode.Models(folderB), keyB, "node-b", wroom.BoardClass, wroom.Memory.ModelFlashBytes, wroom.Memory.ModelRamBytes);
        staged.Boot();
        Assert.Equal(Firmware.Core.Updates.UpdateState.Downloading, staged.Offer(Firmware.Core.Updates.UpdateManifest.Describe(detector2, 2, "node-b", golden).EncodeAndSign(keyB)).State);
        Assert.Equal(detector2.Length / 2, staged.Chunk(2, 0, detector2, 0, detector2.Length / 2).NextOffset);

        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/", s =>
        {
            TakeReleases(s, root, minShadowWindows: 5);
            s["Gateway:Releases:NodeKeysFile"] = nodeKeys;
            s["Gateway:Releases:ChunkBytes"] = "256";
            s["Gateway:Releases:NodeTimeoutSeconds"] = "1";
            s["Gateway:Releases:RolloutSyncSeconds"] = "0.5";
        }, gatewayDir);
        (float[] x, float[] y, float[] z) = TestBed.Recordings.Fan(repo);
        await using TestBed.SimulatedNode a = TestBed.SimulatedNode.Start(wroom, "node-a", "pw-a", keyA, folderA, x, y, z, "127.0.0.1", g.MqttPort, speed: 4);
        await using TestBed.SimulatedNode b = TestBed.SimulatedNode.Start(wroom, "node-b", "pw-b", keyB, folderB, x, y, z, "127.0.0.1", g.MqttPort, speed: 4);
        await using TestBed.SimulatedNode c = TestBed.SimulatedNode.Start(wroom, "node-c", "pw-c", keyC, folderC, x, y, z, "127.0.0.1", g.MqttPort, speed: 4);

        NodeUpdateRelay relay = g.Get<NodeUpdateRelay>();
        string Progress() => string.Join("; ", relay.Snapshot().Select(n => $"{n.Node} {n.State} {n.LastError}")) + $" (gateway step {g.Get<ReleaseWorker>().LastStep})";
        await Harness.Eventually(() => Task.FromResult(Progress()), p => p.Contains("node-a confirmed") && p.Contains("node-b confirmed") && p.Contains("node-c failed"), "release 2 through the rollout", seconds: 90);
        Assert.Equal(2u, a.Controller.Updater.ActiveModel!.Header.ModelVersion);
        Assert.Equal(2u, b.Controller.Updater.ActiveModel!.Header.ModelVersion);
        Assert.Equal(1u, c.Controller.Updater.ActiveModel!.Header.ModelVersion); // it refused the manifest and kept its model
        NodeUpdateStatus[] nodes = relay.Snapshot().ToArray();
        Assert.Equal(["node-a", "node-b", "node-c"], nodes.Select(n => n.Node)); // node-s3 serves another board class
        Assert.Contains("bad manifest MAC", nodes[2].LastError);

        // The trainer's rollout saw every node finish: 2 of 3 confirmed meets its 60 %, so it completed and release 2's version is the champion.
        await Harness.Eventually(() => Task.FromResult(RolloutState(registryDir)), st => st == "completed", "rollout completed", seconds: 30);
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            Rollout done = registry.Rollouts(BoardClass).Single();
            Assert.Equal(registry.Releases([BoardClass]).Single(r => r.Sequence == 2).Version, registry.AliasOf(BoardClass, ModelRegistry.Champion));
            Assert.Equal(["confirmed", "confirmed", "failed"], registry.RolloutNodes(done.Id).OrderBy(n => n.Node, StringComparer.Ordinal).Select(n => n.State));
            Assert.Contains("bad manifest MAC", registry.RolloutNodes(done.Id).Single(n => n.Node == "node-c").LastError);
        }

        Assert.True(nodes[1].BytesSent < nodes[0].BytesSent, $"node-b resumed: {nodes[1].BytesSent} B sent against node-a's {nodes[0].BytesSent} B");
        Assert.True(nodes[0].BytesSent < 2 * detector2.Length + 2048, $"node-a got {nodes[0].BytesSent} B for a {detector2.Length} B model");
        Assert.True(File.Exists(Path.Combine(gatewayDir, "releases", $"{BoardClass}-2", "nodes.json")));
        await trainer.StopAsync();
    }

    [Fact]
    public async Task A_verifier_whose_health_drops_after_promotion_is_rolled_back_and_its_events_are_verified_again()
    {
        await using ReleaseBed bed = await ReleaseBed.Start("probation");
        (string root, KeyStore keys, string registryDir, WebApplication trainer, string gatewayDir) = (bed.Root, bed.Keys, bed.RegistryDir, bed.Trainer, bed.GatewayDir);
        byte[] original = File.ReadAllBytes(Path.Combine(gatewayDir, "verifier.onnx"));
        await using RunningGateway g = await RunningGateway.Start(bed.TrainerUrl, s =>
        {
            TakeReleases(s, root, minShadowWindows: 20);
            s["Gateway:Releases:ProbationSeconds"] = "300";
        }, gatewayDir);
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        await StoreWindows(g, node, 30);

        // The release agrees with the current verifier on every stored window, so shadow passes and it is promoted.
        Publish(registryDir, keys, root, Harness.UnstableVerifier(2), shadowAgreement: 0.9);
        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 1)), s => s.Contains("running"), "release 1 running on probation", seconds: 60);
        Assert.Equal(2, g.Get<VerifierHost>().Current!.Version);

        // Live windows far louder than the stored ones: the new verifier's outputs overflow. No NaN verdict is stored.
        for (uint i = 31; i <= 50; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, (i % 2 == 0 ? 1 : -1) * 400f))).IsSuccess);
        }

        await Harness.Eventually(() => Task.FromResult(Steps(registryDir, 1)), s => s.Contains("rolled_back"), "release 1 rolled back", seconds: 60);
        Assert.Equal(["fetched", "verified", "downloaded", "shadow_passed", "promoted", "running", "rolled_back"], Steps(registryDir, 1));
        Assert.Contains("health dropped after promotion", Detail(registryDir, 1, "rolled_back"));
        Assert.Contains("the previous verifier is back", Detail(registryDir, 1, "rolled_back"));
        Assert.Equal(original, File.ReadAllBytes(g.ModelFile));
        await Harness.Eventually(() => Task.FromResult(g.Get<VerifierHost>().Current!.Version), v => v == 1, "the previous verifier reinstalled");
        Assert.Equal(0, g.Get<ReleaseWorker>().State.InstalledSequence);
        Assert.Contains(1L, g.Get<ReleaseWorker>().State.Refused.Keys);

        // The events it could not judge stayed pending and the restored verifier judged every one.
        await Harness.Eventually(() => Task.FromResult(g.Get<Storage.GatewayStore>().RecentVerified(100).Count), n => n == 50, "all 50 events verified");
        Assert.All(g.Get<Storage.GatewayStore>().RecentVerified(100), r => Assert.True(float.IsFinite(r.Verdict.Probability), $"{r.Event.Id}: {r.Verdict.Probability}"));
        string failures = (await g.Metrics()).Split('\n').Single(l => l.StartsWith("tinymlops_gateway_verifier_failures_total ", StringComparison.Ordinal));
        Assert.True(long.Parse(failures.Split(' ')[1]) >= 2, failures);
        Assert.Contains("tinymlops_gateway_release_sequence 0", await g.Metrics());
        await trainer.StopAsync();
    }

    /// <summary>
    /// <paramref name="count"/> events from <paramref name="node"/>, stored and verified by the gateway's verifier:
    /// the recent windows a shadow run judges a new verifier on.
    /// </summary>
    internal static async Task StoreWindows(RunningGateway g, IMqttClient node, uint count)
    {
        for (uint i = 1; i <= count; i++)
        {
            Assert.True((await Harness.Publish(node, $"tinymlops/{node.Options.ClientId}/up/event", Harness.EventFrame(i, (i % 2 == 0 ? 1 : -1) * (0.2f + (i / 40f))))).IsSuccess);
        }

        await Harness.Eventually(() => Task.FromResult(g.Get<Storage.GatewayStore>().RecentVerified(100).Count), n => n == count, "events verified");
    }

    /// <summary>The gateway settings that make it take releases signed under <paramref name="root"/>'s keys, polling briskly.</summary>
    internal static void TakeReleases(Dictionary<string, string?> s, string root, int minShadowWindows)
    {
        s["Gateway:Releases:ProbationEvents"] = "10";
        s["Gateway:Releases:ProbationSeconds"] = "1";
        s["Gateway:Releases:RootKeyFile"] = Path.Combine(root, "keys", KeyStore.RootPublicFile);
        s["Gateway:Releases:Vendor"] = "acme";
        s["Gateway:Releases:BoardClass"] = BoardClass.ToString();
        s["Gateway:Releases:PollWaitSeconds"] = "1";
        s["Gateway:Releases:MaxRetrySeconds"] = "1";
        s["Gateway:Releases:MinShadowWindows"] = minShadowWindows.ToString();
    }

    private static string RolloutState(string registryDir)
    {
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        return registry.Rollouts(BoardClass).Single().State;
    }

    internal static async Task<WebApplication> StartTrainer(string registryDir, string store, int port)
    {
        WebApplication trainer = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Trainer:RegistryDirectory"] = registryDir,
            ["Ingestion:StoreDirectory"] = store,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        await trainer.StartAsync();
        return trainer;
    }

    private static void Publish(string registryDir, KeyStore keys, string root, byte[] verifier, double shadowAgreement, byte[]? detector = null, float[]? golden = null)
    {
        string folder = Path.Combine(root, "model-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "verifier.onnx"), verifier);
        File.WriteAllBytes(Path.Combine(folder, "detector.tmlm"), detector ?? TestBed.Recordings.EveryWindowSuspicious(Boards.Checkout.FindRoot()));
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
            GoldenInputs = golden ?? new float[36],
            ShadowAgreement = shadowAgreement,
        }), null);
    }

    internal static string[] Steps(string registryDir, long sequence, int boardClass = BoardClass)
    {
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        return registry.StatusOf(boardClass, sequence).Select(s => s.Step).ToArray();
    }

    internal static string Detail(string registryDir, long sequence, string step, int boardClass = BoardClass)
    {
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        return registry.StatusOf(boardClass, sequence).Last(s => s.Step == step).Detail;
    }
}

/// <summary>
/// What a gateway's release test starts from: keys under a fresh root, a registry in which <c>gw-test</c> serves board
/// class 1, the trainer service on it, and a prepared gateway folder holding <c>gw-test</c>'s credential.
/// </summary>
internal sealed record ReleaseBed(string Root, KeyStore Keys, string RegistryDir, WebApplication Trainer, string TrainerUrl, string GatewayDir) : IAsyncDisposable
{
    public static async Task<ReleaseBed> Start(string name)
    {
        string root = Harness.Temp(name);
        KeyStore keys = KeyStore.Create(Path.Combine(root, "keys"), Path.Combine(root, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        string registryDir = Path.Combine(root, "registry"), store = Path.Combine(root, "store");
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            registry.AssignGateway("gw-test", [1]);
        }

        int port = Harness.FreePort();
        WebApplication trainer = await ReleaseUpdateTests.StartTrainer(registryDir, store, port);
        string gatewayDir = Harness.Temp("gateway");
        RunningGateway.Prepare(gatewayDir);
        Contracts.SecretFile.WriteAllText(Path.Combine(gatewayDir, "trainer.credential"), Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-test"));
        return new ReleaseBed(root, keys, registryDir, trainer, $"http://127.0.0.1:{port}/", gatewayDir);
    }

    public ValueTask DisposeAsync() => Trainer.DisposeAsync();
}
