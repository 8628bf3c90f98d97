using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Host;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.TestBed;
using TinyMlops.Trainer;
using TinyMlops.TrainerService;

namespace TinyMlops.RolloutBench;

/// <summary>
/// <c>tinymlops-bench-rollout [--nodes 1000] [--reset 0.1] [--fail 0.02] [--groups 1,10%,50%,100%] [--success 0.95]
/// [--abort 0.05] [--chunk 1024] [--model DIR] [--restart true]</c>: trains (or takes) an esp32-wroom-32 model, releases it through the
/// registry's gate, and rolls it out in stages through the trainer service and one gateway (its own process) to
/// simulated nodes running the core's update state machine. A share of the nodes is reset once mid-download (on a
/// random packet of it) and a share has a flash fault that makes every update fail its check. It prints the time to
/// complete, the bytes each node received against manifest + model, and the outcome of every reset and faulty node;
/// then a second rollout with a 1 % abort threshold shows the faulty nodes stopping it in its first group. With
/// <c>--restart true</c> the gateway is killed and the trainer restarted once a third of the nodes confirmed.
/// </summary>
public static class Program
{
    private const string Gateway = "gw-bench";

    public static async Task<int> Main(string[] args)
    {
        Dictionary<string, string> o;
        try
        {
            o = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("tinymlops-bench-rollout: " + e.Message);
            return 2;
        }

        int nodes = Int(o, "nodes", 1000);
        double reset = Dbl(o, "reset", 0.1), fail = Dbl(o, "fail", 0.02), success = Dbl(o, "success", 0.95), abort = Dbl(o, "abort", 0.05);
        int chunk = Int(o, "chunk", 1024);
        bool restart = o.GetValueOrDefault("restart") is "true";
        string[] groups = RolloutPlan.ParseGroups(o.GetValueOrDefault("groups", "1,10%,50%,100%"));
        string root = Checkout.FindRoot();
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-bench-rollout-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            return await Run(root, dir, o.GetValueOrDefault("model"), nodes, reset, fail, groups, success, abort, chunk, restart) ? 0 : 1;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<bool> Run(string root, string dir, string? model, int count, double resetShare, double failShare, string[] groups, double success, double abort, int chunk, bool restart)
    {
        BoardProfile wroom = BoardProfile.Load("esp32-wroom-32");
        var clock = Stopwatch.StartNew();
        if (model == null)
        {
            model = Path.Combine(dir, "model");
            Console.Error.WriteLine("[bench] training the esp32-wroom-32 model on the fan recording");
            TrainingRun.Run(new TrainOptions { DataDirectory = Path.Combine(root, "data", "uci-accelerometer-fan"), Board = wroom.Name, OutputDirectory = model, Seed = 42 }, null);
        }

        // Registry: release 1 is what the nodes were provisioned with, release 2 is rolled out.
        KeyStore keys = KeyStore.Create(Path.Combine(dir, "keys"), Path.Combine(dir, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        string registryDir = Path.Combine(dir, "registry"), store = Path.Combine(dir, "store");
        using (ModelRegistry registry = ModelRegistry.Open(registryDir))
        {
            Console.Error.WriteLine("[bench] releasing it twice through the gate");
            for (int i = 0; i < 2; i++)
            {
                Releasing.Release(new ReleaseRequest { ModelDirectory = model, Registry = registry, Keys = keys, EvaluationData = Path.Combine(root, "data", "uci-accelerometer-fan") });
            }

            registry.AssignGateway(Gateway, [wroom.BoardClass]);
            registry.StartRollout(wroom.BoardClass, 2, groups, success, abort);
        }

        int trainerPort = GatewayProcess.FreeLoopbackPort();
        async Task<WebApplication> StartTrainer()
        {
            WebApplication app = TrainerApp.Build([], c => c.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Urls"] = $"http://127.0.0.1:{trainerPort}",
                ["Trainer:RegistryDirectory"] = registryDir,
                ["Ingestion:StoreDirectory"] = store,
                ["Logging:LogLevel:Default"] = "Warning",
            }));
            await app.StartAsync();
            return app;
        }

        WebApplication trainer = await StartTrainer();

        // The fleet: ids, logins, update keys; which nodes reset and which have a flash fault (spread over the rollout order).
        string gatewayDir = Path.Combine(dir, "gateway");
        Directory.CreateDirectory(gatewayDir);
        string[] ids = Enumerable.Range(1, count).Select(i => $"node-{i:D4}").ToArray();
        var passwords = ids.ToDictionary(i => i, i => "pw-" + i);
        NodeRegistry.Write(Path.Combine(gatewayDir, "nodes.json"), passwords, iterations: 1000);
        var rng = new Random(7);
        Dictionary<string, byte[]> nodeKeys = ids.ToDictionary(i => i, _ => { var k = new byte[32]; rng.NextBytes(k); return k; });
        WriteNodeKeys(Path.Combine(gatewayDir, "node-keys.json"), nodeKeys, wroom.BoardClass);
        List<string> order = RolloutPlan.Order(ids);
        int step = failShare > 0 ? Math.Max(2, (int)Math.Round(1 / failShare)) : int.MaxValue;
        var faulty = new HashSet<string>(order.Where((_, i) => step != int.MaxValue && i % step == step / 2), StringComparer.Ordinal);
        var resets = new HashSet<string>(ids.Where(i => !faulty.Contains(i)).OrderBy(_ => rng.Next()).Take((int)Math.Round(resetShare * count)), StringComparer.Ordinal);
        byte[] detector = File.ReadAllBytes(Path.Combine(model, "detector.tmlm"));
        Console.Error.WriteLine($"[bench] provisioning {count} nodes ({faulty.Count} with a flash fault, {resets.Count} to reset mid-download)");
        foreach (string id in ids)
        {
            SimulatedNode.Install(Path.Combine(dir, "nodes", id), wroom, id, nodeKeys[id], detector, 1);
        }

        File.Copy(Path.Combine(model, "verifier.onnx"), Path.Combine(gatewayDir, "verifier.onnx"));
        SecretFile.WriteAllText(Path.Combine(gatewayDir, "trainer.credential"), Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), Gateway));
        int mqttPort = GatewayProcess.FreeLoopbackPort(), httpPort = GatewayProcess.FreeLoopbackPort();
        Dictionary<string, string?> settings = GatewaySettings.TakingReleases(Gateway, gatewayDir, httpPort, mqttPort, $"http://127.0.0.1:{trainerPort}/",
            Path.Combine(dir, "keys", KeyStore.RootPublicFile), wroom.BoardClass);
        settings["Gateway:Mqtt:MaxPendingConnections"] = "5000";
        settings["Gateway:Releases:ChunkBytes"] = chunk.ToString(CultureInfo.InvariantCulture);
        settings["Gateway:Releases:ProbationSeconds"] = "3";
        GatewayProcess gateway = GatewayProcess.Start(settings, httpPort);

        // Both restarted mid-rollout: the gateway killed (SIGKILL, nothing flushed) and the trainer stopped, then both
        // started again on the same data; the rollout must carry on from what each kept.
        async Task RestartBoth()
        {
            gateway.Kill();
            gateway.Dispose();
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            trainer = await StartTrainer();
            gateway = GatewayProcess.Start(settings, httpPort);
            await gateway.WaitHealthy(60);
        }

        try
        {
            await gateway.WaitHealthy(60);
            return await Drive(root, dir, wroom, ids, passwords, nodeKeys, faulty, resets, mqttPort, registryDir, keys, model, detector, chunk, clock, restart ? RestartBoth : null);
        }
        catch (Exception)
        {
            Console.Error.WriteLine(gateway.Output);
            throw;
        }
        finally
        {
            gateway.Dispose();
            await trainer.StopAsync();
            await trainer.DisposeAsync();
        }
    }

    private static async Task<bool> Drive(string root, string dir, BoardProfile wroom, string[] ids, Dictionary<string, string> passwords, Dictionary<string, byte[]> nodeKeys,
        HashSet<string> faulty, HashSet<string> resets, int port, string registryDir, KeyStore keys, string model, byte[] detector, int chunk, Stopwatch clock, Func<Task>? restart)
    {
        (float[] x, float[] y, float[] z) = Recordings.Fan(root);
        var resetRng = new Random(11);
        var traffic = new OtaTraffic(resets, packets => resetRng.Next(1, packets + 1)) { PacketsPerDownload = 1 + ((detector.Length + chunk - 1) / chunk) };
        using var scheduler = new NodeScheduler(Environment.ProcessorCount, "fleet");
        var fleet = new ConcurrentDictionary<string, SimulatedNode>(StringComparer.Ordinal);
        SimulatedNode StartNode(string id, int index) => SimulatedNode.Start(wroom, id, passwords[id], nodeKeys[id], Path.Combine(dir, "nodes", id), x, y, z, "127.0.0.1", port,
            speed: 1, scheduler: scheduler, traffic: traffic, replayFrom: (int)((index * 7919L) % x.Length),
            models: faulty.Contains(id) ? new FlashFaultStorage(SimulatedNode.Models(Path.Combine(dir, "nodes", id))) : null);
        Console.Error.WriteLine($"[bench] starting {ids.Length} nodes");
        for (int i = 0; i < ids.Length; i++)
        {
            SimulatedNode n = StartNode(ids[i], i);
            n.Sensor.Failing = i >= 20; // a few nodes send windows for the verifier's shadow run; the rest only update
            fleet[ids[i]] = n;
        }

        try
        {
            var connecting = Stopwatch.StartNew();
            while (fleet.Values.Any(n => !n.Runner.IsConnected))
            {
                if (connecting.Elapsed > TimeSpan.FromMinutes(5))
                {
                    throw new TimeoutException($"{fleet.Values.Count(n => !n.Runner.IsConnected)} nodes did not connect in 5 minutes");
                }

                await Task.Delay(200);
            }

            Console.Error.WriteLine($"[bench] {ids.Length} nodes connected in {connecting.Elapsed.TotalSeconds:F1} s");

            // Reset the chosen nodes once, after a random number of their chunks (the traffic observer picks the moment).
            int resetsDone = 0;
            using var stop = new CancellationTokenSource();
            Task resetter = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    while (traffic.ToReset.TryDequeue(out string? id))
                    {
                        await fleet[id].DisposeAsync();
                        fleet[id] = StartNode(id, Array.IndexOf(ids, id));
                        fleet[id].Sensor.Failing = true;
                        Interlocked.Increment(ref resetsDone);
                    }

                    await Task.Delay(10);
                }
            });

            bool restarted = false;
            if (restart != null)
            {
                // Once a third of the fleet has confirmed: both tiers go down and come back.
                await Follow(registryDir, 2, TimeSpan.FromMinutes(15), r => r.RolloutNodes(r.Rollouts(null).First(x => x.Sequence == 2).Id).Count(n => n.State == "confirmed") >= ids.Length / 3);
                Console.Error.WriteLine("[bench] killing the gateway and stopping the trainer mid-rollout, then starting both again");
                await restart();
                restarted = true;
            }

            Rollout first = await Follow(registryDir, 2, TimeSpan.FromMinutes(15));
            DateTimeOffset started = StepTime(registryDir, wroom.BoardClass, 2, "running");
            TimeSpan duration = first.Updated - started;
            stop.Cancel();
            await resetter;
            using ModelRegistry registry = ModelRegistry.Open(registryDir);
            IReadOnlyList<RolloutNode> states = registry.RolloutNodes(first.Id);
            ManifestSize(registryDir, wroom.BoardClass, 2, out int goldenRows);
            int manifestBytes = UpdateManifest.Describe(detector, 2, ids[0], new float[goldenRows * 36]).EncodeAndSign(nodeKeys[ids[0]]).Length;
            double[] ratios = ids.Where(i => !faulty.Contains(i) && !resets.Contains(i)).Select(i => traffic.Down(i) / (double)(manifestBytes + detector.Length)).Order().ToArray();
            double[] resetRatios = resets.Select(i => traffic.Down(i) / (double)(manifestBytes + detector.Length)).Order().ToArray();
            int confirmed = states.Count(n => n.State == "confirmed"), failed = states.Count(n => n.State == "failed");
            bool resetsOk = resets.All(r => states.Single(n => n.Node == r).State == "confirmed" && fleet[r].Controller.Updater.InstalledSequence == 2);
            bool faultyOk = faulty.All(f => states.Single(n => n.Node == f).State == "failed" && fleet[f].Controller.Updater.InstalledSequence == 1 && fleet[f].Controller.Updater.ActiveModel != null);
            Console.WriteLine($"rollout of release 2 to {ids.Length} simulated esp32-wroom-32 nodes through one gateway, {Environment.ProcessorCount} cores; groups {string.Join(",", first.Groups)}, success {first.SuccessThreshold:P0}, abort {first.AbortFailureRate:P0}");
            Console.WriteLine($"state                       {first.State} ({first.Reason}){(restarted ? "; gateway killed and trainer restarted once a third had confirmed" : "")}");
            Console.WriteLine($"time to complete            {duration.TotalSeconds:F1} s from the gateway running the release to the rollout's end   target <= 60 s {(duration.TotalSeconds <= 60 && first.State == "completed" ? "met" : "MISSED")}");
            Console.WriteLine($"nodes                       {confirmed} confirmed, {failed} failed, {states.Count - confirmed - failed} open");
            Console.WriteLine($"bytes to a node             manifest {manifestBytes} B + model {detector.Length} B; OTA PUBLISH packets received (topic, header, payload): median {Median(ratios):F3}x, max {ratios.DefaultIfEmpty(0).Max():F3}x   target <= 1.1x {(Median(ratios) <= 1.1 ? "met" : "MISSED")}");
            Console.WriteLine($"reset nodes                 {resetsDone} of {resets.Count} reset mid-download; all confirmed release 2: {(resetsOk ? "yes" : "NO")}; received median {Median(resetRatios):F3}x");
            Console.WriteLine($"flash-fault nodes           {faulty.Count}; all failed and kept release 1 running: {(faultyOk ? "yes" : "NO")}; reasons: {string.Join(", ", states.Where(n => faulty.Contains(n.Node)).Select(n => n.LastError).Distinct())}");

            // A second rollout with a 1 % abort threshold: the faulty nodes in its first group stop it there.
            Console.Error.WriteLine("[bench] second rollout, abort threshold 1 %");
            registry.Dispose();
            using (ModelRegistry r = ModelRegistry.Open(registryDir))
            {
                Releasing.Release(new ReleaseRequest { ModelDirectory = model, Registry = r, Keys = keys });
                r.StartRollout(wroom.BoardClass, 3, RolloutPlan.ParseGroups("50%,100%"), 0.95, 0.01);
            }

            Rollout second = await Follow(registryDir, 3, TimeSpan.FromMinutes(15));
            using ModelRegistry after = ModelRegistry.Open(registryDir);
            IReadOnlyList<RolloutNode> later = after.RolloutNodes(second.Id);
            int beyond = later.Count(n => n.Group > 0 && n.State != "pending");
            bool abortOk = second.State == "aborted" && second.CurrentGroup == 0 && beyond == 0;
            Console.WriteLine($"abort check                 rollout {second.Id}: {second.State} at group {second.CurrentGroup + 1} ({second.Reason}); nodes of later groups offered: {beyond}   {(abortOk ? "met" : "MISSED")}");
            Console.WriteLine($"whole run                   {clock.Elapsed.TotalSeconds:F0} s");
            return first.State == "completed" && resetsOk && faultyOk && abortOk;
        }
        finally
        {
            foreach (SimulatedNode n in fleet.Values)
            {
                await n.DisposeAsync();
            }
        }
    }

    /// <summary>Waits for the rollout of <paramref name="sequence"/> to end, printing progress.</summary>
    private static async Task<Rollout> Follow(string registryDir, long sequence, TimeSpan patience, Func<ModelRegistry, bool>? until = null)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan nextReport = TimeSpan.Zero;
        while (true)
        {
            using (ModelRegistry r = ModelRegistry.Open(registryDir))
            {
                Rollout rollout = r.Rollouts(null).First(x => x.Sequence == sequence);
                if (rollout.State is "completed" or "aborted" || (until != null && until(r)))
                {
                    return rollout;
                }

                if (clock.Elapsed >= nextReport)
                {
                    IReadOnlyList<RolloutNode> n = r.RolloutNodes(rollout.Id);
                    Console.Error.WriteLine($"[bench] rollout {rollout.Id}: {rollout.State}, group {rollout.CurrentGroup + 1}/{rollout.Groups.Count}: {n.Count(x => x.State == "confirmed")} confirmed, {n.Count(x => x.State == "failed")} failed, {n.Count(x => !RolloutPlan.IsFinished(x.State) && x.State != "pending")} in progress, {n.Count(x => x.State == "pending")} pending");
                    nextReport = clock.Elapsed + TimeSpan.FromSeconds(5);
                }
            }

            if (clock.Elapsed > patience)
            {
                throw new TimeoutException($"the rollout of release {sequence} did not end within {patience.TotalMinutes:F0} min");
            }

            await Task.Delay(250);
        }
    }

    private static DateTimeOffset StepTime(string registryDir, int boardClass, long sequence, string step)
    {
        using ModelRegistry r = ModelRegistry.Open(registryDir);
        return r.StatusOf(boardClass, sequence).First(s => s.Step == step).At;
    }

    private static void ManifestSize(string registryDir, int boardClass, long sequence, out int goldenRows)
    {
        using ModelRegistry r = ModelRegistry.Open(registryDir);
        using JsonDocument m = JsonDocument.Parse(SignedRelease.Parse(r.Release(boardClass, sequence)!.Document).Manifest.Payload);
        goldenRows = m.RootElement.GetProperty("goldenInputs").GetArrayLength() / 36;
    }

    private static void WriteNodeKeys(string path, Dictionary<string, byte[]> keys, int boardClass) =>
        SecretFile.WriteAllText(path, JsonSerializer.Serialize(new { nodes = keys.ToDictionary(k => k.Key, k => new { key = Convert.ToHexStringLower(k.Value), boardClass }) }));

    private static double Median(double[] sorted) => sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];

    private static Dictionary<string, string> Parse(string[] args)
    {
        var known = new HashSet<string> { "nodes", "reset", "fail", "groups", "success", "abort", "chunk", "model", "restart" };
        var o = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : throw new ArgumentException($"'{args[i]}' is not an option");
            if (!known.Contains(name) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"--{name}: unknown or missing its value (options: {string.Join(", ", known.Select(k => "--" + k))})");
            }

            o[name] = args[i + 1];
        }

        foreach ((string k, double lo, double hi) in new[] { ("nodes", 2.0, 5000.0), ("chunk", 256.0, 16384.0), ("reset", 0.0, 0.5), ("fail", 0.0, 0.5), ("success", 0.01, 1.0), ("abort", 0.0, 1.0) })
        {
            if (o.TryGetValue(k, out string? v) && (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || d < lo || d > hi))
            {
                throw new ArgumentException($"--{k} takes {lo}..{hi}, not '{v}'");
            }
        }

        return o;
    }

    private static int Int(Dictionary<string, string> o, string k, int d) => o.TryGetValue(k, out string? v) ? (int)double.Parse(v, CultureInfo.InvariantCulture) : d;

    private static double Dbl(Dictionary<string, string> o, string k, double d) => o.TryGetValue(k, out string? v) ? double.Parse(v, CultureInfo.InvariantCulture) : d;

    /// <summary>OTA packets each node receives, counted as MQTT 5 PUBLISH packets (fixed header, topic, packet id, properties, payload).</summary>
    private sealed class OtaTraffic(HashSet<string> resets, Func<int, int> resetAfter) : INodeTraffic
    {
        private readonly ConcurrentDictionary<string, long> _down = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, int> _packets = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, int> _resetAt = new(StringComparer.Ordinal);

        /// <summary>Nodes due for their reset (once each).</summary>
        public ConcurrentQueue<string> ToReset { get; } = new();

        /// <summary>Packets of one download: the offer and the model's chunks.</summary>
        public int PacketsPerDownload { get; set; } = 2;

        public long Down(string node) => _down.GetValueOrDefault(node);

        public void Sent(string nodeId, string topic, byte[] payload)
        {
        }

        public void Received(string nodeId, string topic, byte[] payload)
        {
            if (!topic.Contains("/down/ota-", StringComparison.Ordinal))
            {
                return;
            }

            if (resets.Contains(nodeId))
            {
                // Down on the k-th packet of its download, the offer being the first: before, between or after chunks.
                int seen = _packets.AddOrUpdate(nodeId, 1, (_, v) => v + 1);
                int at = _resetAt.GetOrAdd(nodeId, _ => resetAfter(PacketsPerDownload));
                if (seen == at)
                {
                    ToReset.Enqueue(nodeId); // the node may or may not have stored this chunk when it goes down
                }
            }

            int remaining = 2 + System.Text.Encoding.UTF8.GetByteCount(topic) + 2 + 1 + payload.Length;
            int lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : 3;
            _down.AddOrUpdate(nodeId, 1 + lengthBytes + remaining, (_, v) => v + 1 + lengthBytes + remaining);
        }
    }
}
