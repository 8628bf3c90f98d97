using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Firmware.Host;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Verification;
using TinyMlops.TestBed;
using TinyMlops.Trainer;

namespace TinyMlops.GatewayBench;

/// <summary>
/// <c>tinymlops-bench-gateway</c>: the gateway's figures, each against a baseline or target measured in the same run.
/// (1) Verification throughput of the gateway's verifier path (<see cref="VerifierHost"/>, zero-copy input, verdicts)
/// against a bare <see cref="InferenceSession.Run(IReadOnlyCollection{NamedOnnxValue})"/> on the same model, rounds
/// interleaved. (2) End to end: the gateway in its own process, a fleet of the test bed's simulated nodes (the
/// device's controller on one shared scheduler, replaying the fan recording with a detector that calls every window
/// suspicious) publishing QoS 1 events at a fixed total rate, latency from the node's publish to the verdict arriving
/// at that node, per report interval, with the gateway's resident memory and managed heap, and every event accounted for.
/// </summary>
public static class GatewayBench
{
    private const double WarmUpSeconds = 10;

    /// <summary>Runs the benchmark; 0 when every target is met.</summary>
    public static int Run(BenchSettings o)
    {
        string root = Checkout.FindRoot();
        string output = o.Out ?? Path.Combine(root, "out", "bench-gateway");
        Directory.CreateDirectory(output);
        var load = new LoadShape(o.Nodes, o.Rate, o.Minutes, o.Report, o.P99TargetMs);
        if (load.ReportSeconds % LatencyRecorder.BucketSeconds != 0)
        {
            throw new ArgumentException($"--report must be a multiple of {LatencyRecorder.BucketSeconds} s");
        }

        BoardProfile board = BoardProfile.Load(o.Board);
        string modelFile = o.Model ?? TrainVerifier(root, output);
        byte[] model = File.ReadAllBytes(modelFile);

        Console.WriteLine($"gateway benchmark: {modelFile}, {Environment.ProcessorCount} cores, .NET {Environment.Version}, ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
        Console.WriteLine();
        bool throughputMet = Throughput(model, o.Batch, o.Rounds);
        Console.WriteLine();
        bool endToEndMet = EndToEnd(model, board, load, output).GetAwaiter().GetResult();
        return throughputMet && endToEndMet ? 0 : 1;
    }

    /// <summary>Total rate, node count and duration of the simulated line.</summary>
    /// <param name="Nodes">Simulated nodes.</param>
    /// <param name="EventsPerSecond">Total publish rate.</param>
    /// <param name="Minutes">Duration.</param>
    /// <param name="ReportSeconds">Report interval.</param>
    private sealed record LoadShape(int Nodes, int EventsPerSecond, double Minutes, int ReportSeconds, double P99TargetMs);

    private static string TrainVerifier(string root, string output)
    {
        string dir = Path.Combine(output, "model");
        string file = Path.Combine(dir, "verifier.onnx");
        if (File.Exists(file))
        {
            return file;
        }

        Console.Error.WriteLine($"[bench] no --model: training one on the shipped recording into {dir}");
        TrainingRun.Run(new TrainOptions { DataDirectory = Path.Combine(root, "data", "uci-accelerometer-fan"), Board = "esp32-wroom-32", OutputDirectory = dir, Seed = 42 }, new TrainProgress());
        return file;
    }

    private static bool Throughput(byte[] model, int batch, int rounds)
    {
        VerifierModel gateway = VerifierModel.Load(model, "bench");
        using var host = new VerifierHost();
        host.Install(gateway);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var bare = new InferenceSession(model, options);
        string input = bare.InputMetadata.Keys.First();
        int n = gateway.InputLength;
        var rng = new Random(1);
        float[][] pool = Enumerable.Range(0, 1024).Select(_ => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 4) - 2)).ToArray()).ToArray();
        int next = 0;

        // Both sides gather a batch of windows into one buffer, as the verification worker does, then get an answer.
        float[] Gather(int rows)
        {
            var buffer = new float[rows * n];
            for (int r = 0; r < rows; r++)
            {
                pool[next = (next + 1) % pool.Length].CopyTo(buffer, r * n);
            }

            return buffer;
        }

        long sink = 0;
        void Gateway(int rows) => sink += host.With(m => m!.Verify(Gather(rows), rows))[0].ClassId;
        void Bare(int rows)
        {
            var tensor = new DenseTensor<float>(Gather(rows), new[] { rows, n });
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> result = bare.Run(new[] { NamedOnnxValue.CreateFromTensor(input, tensor) });
            sink += (long)result.First().AsTensor<float>()[0, 0];
        }

        Console.WriteLine($"verification throughput: {n} features, {gateway.Classes.Length} classes, one thread, median of {rounds} interleaved rounds of 1 s");
        Console.WriteLine("batch   bare InferenceSession.Run   gateway VerifierHost   gateway/bare   target");
        bool met = true;
        foreach (int rows in new[] { 1, batch }.Distinct())
        {
            var bareRates = new List<double>();
            var gatewayRates = new List<double>();
            Rate(() => Bare(rows), rows, 0.3);
            Rate(() => Gateway(rows), rows, 0.3);
            for (int round = 0; round < rounds; round++)
            {
                bareRates.Add(Rate(() => Bare(rows), rows, 1));
                gatewayRates.Add(Rate(() => Gateway(rows), rows, 1));
            }

            double b = Median(bareRates), g = Median(gatewayRates), ratio = g / b;
            met &= ratio >= 0.8;
            Console.WriteLine($"{rows,5}   {b,17:N0} ev/s   {g,14:N0} ev/s   {ratio,12:F2}   >= 0.80 {(ratio >= 0.8 ? "met" : "MISSED")}");
        }

        GC.KeepAlive(sink);
        return met;
    }

    private static double Rate(Action run, int rows, double seconds)
    {
        long calls = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            run();
            calls++;
        }

        return calls * rows / clock.Elapsed.TotalSeconds;
    }

    private static async Task<bool> EndToEnd(byte[] model, BoardProfile board, LoadShape load, string output)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"tinymlops-bench-gateway-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        await using WebApplication trainer = await StartTrainerStandIn(GatewayProcess.FreeLoopbackPort());
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "verifier.onnx"), model);
            int features = VerifierModel.Load(model, "bench").InputLength;
            int nodeFeatures = 3 * (Firmware.Core.Features.FeatureExtractor.StatsPerAxis + board.Sampling!.Bands);
            if (features != nodeFeatures)
            {
                throw new ArgumentException($"the verifier takes {features} features, {board.Name}'s nodes send {nodeFeatures}");
            }

            Dictionary<string, string> passwords = Enumerable.Range(1, load.Nodes).ToDictionary(i => $"bench-{i:D3}", i => $"pw-{i}");
            NodeRegistry.Write(Path.Combine(dir, "nodes.json"), passwords);
            int mqttPort = GatewayProcess.FreeLoopbackPort(), httpPort = GatewayProcess.FreeLoopbackPort();
            var settings = new Dictionary<string, string?>
            {
                ["Urls"] = $"http://127.0.0.1:{httpPort}",
                ["Gateway:GatewayId"] = "gw-bench",
                ["Gateway:Board"] = "rpi4",
                ["Gateway:DataDirectory"] = dir,
                ["Gateway:NodesFile"] = Path.Combine(dir, "nodes.json"),
                ["Gateway:Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
                ["Gateway:Verifier:ModelFile"] = Path.Combine(dir, "verifier.onnx"),
                ["Gateway:Uplink:TrainerUrl"] = trainer.Urls.First() + "/",
                ["Gateway:Alarms:Driver"] = "simulated",
                ["Logging:LogLevel:Default"] = "Warning",
            };
            using GatewayProcess gateway = GatewayProcess.Start(settings, httpPort);
            try
            {
                await gateway.WaitHealthy(60);
                return await Drive(gateway, mqttPort, passwords, dir, board, load, output);
            }
            catch (Exception)
            {
                Console.Error.WriteLine(gateway.Output);
                throw;
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<bool> Drive(GatewayProcess gateway, int port, Dictionary<string, string> passwords, string dir, BoardProfile board, LoadShape load, string output)
    {
        string root = Checkout.FindRoot();
        (float[] x, float[] y, float[] z) = Recordings.Fan(root);
        byte[] detector = Recordings.EveryWindowSuspicious(root);
        BoardSampling sampling = board.Sampling!;
        double windowsPerSecond = sampling.SampleRateHz / (double)sampling.WindowLength;
        double speed = load.EventsPerSecond / (double)load.Nodes / windowsPerSecond;
        if (speed > 1000)
        {
            throw new ArgumentException($"{load.EventsPerSecond} ev/s over {load.Nodes} nodes needs a replay {speed:F0}x faster than {board.Name}'s rate; at most 1000x");
        }

        // The nodes are the device's controller (SimulatedNode) on one shared scheduler; their sensors fail until
        // every node is connected, so the load starts at once and only the measured interval produces events.
        var recorder = new LatencyRecorder();
        using var scheduler = new NodeScheduler(Environment.ProcessorCount, "fleet");
        var fleet = new List<SimulatedNode>();
        TimeSpan period = TimeSpan.FromSeconds(1 / (windowsPerSecond * speed));
        Console.Error.WriteLine($"[bench] installing the detector on {passwords.Count} simulated {board.Name} nodes and starting them (replay at {speed:G3}x)");
        var starting = Stopwatch.StartNew();
        int index = 0;
        foreach ((string id, string password) in passwords)
        {
            string folder = Path.Combine(dir, "nodes", id);
            byte[] key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            SimulatedNode.Install(folder, board, id, key, detector, 1);
            TimeSpan due = period * index / passwords.Count; // window boundaries spread over one period, as real nodes' are
            if (due > starting.Elapsed)
            {
                await Task.Delay(due - starting.Elapsed);
            }

            SimulatedNode node = SimulatedNode.Start(board, id, password, key, folder, x, y, z, "127.0.0.1", port, speed,
                scheduler: scheduler, traffic: recorder, replayFrom: (int)((index * 7919L) % x.Length));
            node.Sensor.Failing = true;
            fleet.Add(node);
            index++;
        }

        try
        {
            var connecting = Stopwatch.StartNew();
            while (fleet.Any(n => !n.Runner.IsConnected))
            {
                if (connecting.Elapsed > TimeSpan.FromMinutes(3))
                {
                    throw new TimeoutException($"{fleet.Count(n => !n.Runner.IsConnected)} of {fleet.Count} nodes did not connect within 3 minutes");
                }

                await Task.Delay(100);
            }

            Console.Error.WriteLine($"[bench] {fleet.Count} nodes connected in {starting.Elapsed.TotalSeconds:F1} s");
            return await Measure(gateway, fleet, recorder, sampling, load, speed, output);
        }
        finally
        {
            foreach (SimulatedNode n in fleet)
            {
                await n.DisposeAsync();
            }
        }
    }

    private static async Task<bool> Measure(GatewayProcess gateway, List<SimulatedNode> fleet, LatencyRecorder recorder, BoardSampling sampling, LoadShape load, double speed, string output)
    {
        TimeSpan duration = TimeSpan.FromMinutes(load.Minutes);
        Console.WriteLine($"end to end: {load.Nodes} simulated nodes (the device's controller) x {load.EventsPerSecond / (double)load.Nodes:G3} windows/s = {load.EventsPerSecond} ev/s for {load.Minutes:G} min, QoS 1, " +
            $"{EventMessage.FrameSizeFor(3 * (Firmware.Core.Features.FeatureExtractor.StatsPerAxis + sampling.Bands), sampling.WindowLength)} B frames ({sampling.WindowLength} samples x 3 axes, replay {speed:G3}x), " +
            "every window an event, gateway in its own process with the uplink to a trainer stand-in");
        Console.WriteLine("publish (node) -> verdict received (node); the first 10 s are warm-up and left out of the overall figures");
        Console.WriteLine();
        Console.WriteLine("  time   sent  verdicts   p50 ms   p99 ms   max ms   gateway RSS MiB   GC heap MiB   gateway CPU %   simulator RSS MiB   simulator CPU %");

        recorder.Begin();
        foreach (SimulatedNode n in fleet)
        {
            n.Sensor.Failing = false;
        }

        var start = Stopwatch.StartNew();
        var samples = new List<Sample>();
        double lastCpu = 0, lastAt = 0;
        using Process simulator = Process.GetCurrentProcess();
        double simulatorCpu0 = simulator.TotalProcessorTime.TotalSeconds, lastSimulatorCpu = simulatorCpu0;
        long windows0 = fleet.Sum(n => (long)n.Controller.Pipeline.Windows), events0 = fleet.Sum(n => (long)n.Controller.EventsSent);
        double gatewayCpu0 = (await GatewayFigures(gateway)).GetValueOrDefault("process_cpu_seconds_total");
        for (double at = load.ReportSeconds; at <= duration.TotalSeconds + 1e-9; at += load.ReportSeconds)
        {
            TimeSpan wait = TimeSpan.FromSeconds(at) - start.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            Dictionary<string, double> m = await GatewayFigures(gateway);
            double cpu = m.GetValueOrDefault("process_cpu_seconds_total");
            simulator.Refresh();
            double simulatorCpu = simulator.TotalProcessorTime.TotalSeconds;
            var sample = new Sample(at, m.GetValueOrDefault("process_resident_memory_bytes") / 1048576, m.GetValueOrDefault("dotnet_gc_heap_size_bytes") / 1048576, 100 * (cpu - (lastAt == 0 ? gatewayCpu0 : lastCpu)) / (at - lastAt),
                simulator.WorkingSet64 / 1048576.0, 100 * (simulatorCpu - lastSimulatorCpu) / (at - lastAt));
            (lastCpu, lastAt, lastSimulatorCpu) = (cpu, at, simulatorCpu);
            samples.Add(sample);
            Summary s = recorder.Between(at - load.ReportSeconds, at);
            Console.WriteLine($"{TimeSpan.FromSeconds(at):mm\\:ss} {s.Sent,6} {s.Verdicts,9} {s.P50,8:F2} {s.P99,8:F2} {s.Max,8:F1} {sample.RssMiB,17:F1} {sample.HeapMiB,13:F1} {sample.CpuPercent,15:F0} {sample.SimulatorRssMiB,19:F1} {sample.SimulatorCpuPercent,17:F0}");
        }

        if (duration > start.Elapsed)
        {
            await Task.Delay(duration - start.Elapsed);
        }

        double loadSeconds = start.Elapsed.TotalSeconds;
        long windows = fleet.Sum(n => (long)n.Controller.Pipeline.Windows) - windows0, events = fleet.Sum(n => (long)n.Controller.EventsSent) - events0;
        simulator.Refresh();
        double simulatorCpuSeconds = simulator.TotalProcessorTime.TotalSeconds - simulatorCpu0;
        double gatewayCpuSeconds = (await GatewayFigures(gateway)).GetValueOrDefault("process_cpu_seconds_total") - gatewayCpu0;
        foreach (SimulatedNode n in fleet)
        {
            n.Sensor.Failing = true; // no more windows; acknowledgements and verdicts still come in
        }

        await recorder.Drain(TimeSpan.FromSeconds(15));
        // A node keeps only PendingEvents events for resending: when a stall fills them, the oldest gives way and its
        // acknowledgement, when it comes, matches nothing. Such an event is still delivered (its verdict is counted).
        long sentByNodes = fleet.Sum(n => (long)n.Controller.EventsSent), acknowledged = 0, givenUp = 0;
        for (var settle = Stopwatch.StartNew(); settle.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(100))
        {
            acknowledged = fleet.Sum(n => (long)n.Controller.EventsAcknowledged);
            givenUp = fleet.Sum(n => (long)n.Controller.EventsDropped);
            if (acknowledged + givenUp >= sentByNodes)
            {
                break; // the last acknowledgements reached the controllers' workers
            }
        }

        Dictionary<string, double> final = await GatewayFigures(gateway);
        long overruns = fleet.Sum(n => (long)n.Controller.Capture.Overruns);

        Summary all = recorder.Between(WarmUpSeconds, int.MaxValue);
        Console.WriteLine();
        Console.WriteLine($"events sent {sentByNodes}, acknowledged {acknowledged}, given up unacknowledged {givenUp}, verdicts received {recorder.Verdicts}, unanswered {recorder.Outstanding}; window overruns on the nodes {overruns}");
        Console.WriteLine($"gateway: stored {final.GetValueOrDefault("tinymlops_gateway_events_stored_total")}, verified {final.GetValueOrDefault("tinymlops_gateway_events_verified_total")}, " +
            $"forwarded {final.GetValueOrDefault("tinymlops_gateway_uplink_forwarded_total")}, stored->verdict p99 {final.GetValueOrDefault("tinymlops_gateway_verification_latency_ms{quantile=\"0.99\"}"):F2} ms (its own /metrics)");
        Console.WriteLine();
        bool latencyMet = all.P99 <= load.P99TargetMs;
        bool complete = recorder.Outstanding == 0 && recorder.Verdicts == sentByNodes && acknowledged + givenUp == sentByNodes && recorder.Sent == sentByNodes;
        Console.WriteLine($"figure                                     value      target");
        Console.WriteLine($"p50 publish -> verdict (ms)           {all.P50,10:F2}");
        Console.WriteLine($"windows/s processed on the nodes       {windows / loadSeconds,9:F1}");
        Console.WriteLine($"events/s sent to the gateway           {events / loadSeconds,9:F1}");
        Console.WriteLine($"p99 publish -> verdict (ms)           {all.P99,10:F2}      <= {load.P99TargetMs:G} {(latencyMet ? "met" : "MISSED")}");
        Console.WriteLine($"p99.9 / max (ms)                      {all.P999,10:F2} / {all.Max:F1}");
        Console.WriteLine($"every event delivered and answered     {(complete ? "yes" : "NO"),9}");
        Sample first = samples.FirstOrDefault(s => s.AtSeconds >= 60) ?? samples[0], last = samples[^1];
        Console.WriteLine($"gateway RSS at {first.AtSeconds / 60:G3} min -> {last.AtSeconds / 60:G3} min (MiB)   {first.RssMiB:F1} -> {last.RssMiB:F1}  ({last.RssMiB / first.RssMiB:F2}x)");
        Console.WriteLine($"gateway GC heap at {first.AtSeconds / 60:G3} min -> {last.AtSeconds / 60:G3} min (MiB) {first.HeapMiB:F1} -> {last.HeapMiB:F1}  ({last.HeapMiB / first.HeapMiB:F2}x)");
        bool memoryMet = last.RssMiB <= 1.1 * first.RssMiB;
        Console.WriteLine($"gateway RSS growth                    {last.RssMiB / first.RssMiB,10:F2}x     <= 1.1x {(memoryMet ? "met" : "MISSED")}");
        Console.WriteLine($"simulator RSS at {first.AtSeconds / 60:G3} min -> {last.AtSeconds / 60:G3} min (MiB) {first.SimulatorRssMiB:F1} -> {last.SimulatorRssMiB:F1}  ({last.SimulatorRssMiB / first.SimulatorRssMiB:F2}x)");
        Console.WriteLine($"CPU per 1,000 nodes (cores)           gateway {gatewayCpuSeconds / loadSeconds * 1000 / load.Nodes:F2}, simulator {simulatorCpuSeconds / loadSeconds * 1000 / load.Nodes:F2} (of {Environment.ProcessorCount})");
        Plot(output, recorder, samples, load.P99TargetMs);
        Console.WriteLine();
        Console.WriteLine($"plots: {Path.Combine(output, "latency.png")}, {Path.Combine(output, "memory.png")}");
        return latencyMet && complete && memoryMet;
    }

    private static async Task<Dictionary<string, double>> GatewayFigures(GatewayProcess gateway)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string line in (await gateway.Http.GetStringAsync("metrics")).Split('\n'))
        {
            int space = line.LastIndexOf(' ');
            if (line.Length > 0 && line[0] != '#' && space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                figures[line[..space]] = v;
            }
        }

        return figures;
    }

    /// <summary>Answers the gateway's uplink as a remote trainer would, without filing anything (its cost is not the gateway's).</summary>
    private static async Task<WebApplication> StartTrainerStandIn(int port)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        WebApplication app = builder.Build();
        app.MapPost("/api/ingest", (UplinkBatch batch) => Results.Ok(new IngestResult { Accepted = batch.Records.Count }));
        await app.StartAsync();
        return app;
    }

    private static void Plot(string output, LatencyRecorder recorder, List<Sample> samples, double p99TargetMs)
    {
        List<(double At, Summary S)> buckets = recorder.Buckets();
        double[] t = buckets.Select(b => b.At / 60).ToArray();
        Plots.Series(Path.Combine(output, "latency.png"), "Node publish -> verdict received (10 s buckets)", "minutes", "ms",
            ("p50", t, buckets.Select(b => b.S.P50).ToArray()), ("p99", t, buckets.Select(b => b.S.P99).ToArray()), ("target p99", new[] { 0.0, t.LastOrDefault() }, new[] { p99TargetMs, p99TargetMs }));
        double[] m = samples.Select(s => s.AtSeconds / 60).ToArray();
        Plots.Series(Path.Combine(output, "memory.png"), "Gateway memory under load", "minutes", "MiB",
            ("resident", m, samples.Select(s => s.RssMiB).ToArray()), ("managed heap", m, samples.Select(s => s.HeapMiB).ToArray()));
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>A gateway measurement at one moment.</summary>
    /// <param name="AtSeconds">Seconds into the load.</param>
    /// <param name="RssMiB">Resident memory.</param>
    /// <param name="HeapMiB">Managed heap after the last collection.</param>
    /// <param name="CpuPercent">CPU over the last interval (100 = one core).</param>
    private sealed record Sample(double AtSeconds, double RssMiB, double HeapMiB, double CpuPercent, double SimulatorRssMiB, double SimulatorCpuPercent);

    /// <summary>Latency figures over an interval.</summary>
    private sealed record Summary(int Sent, int Verdicts, double P50, double P99, double P999, double Max);

    /// <summary>
    /// When each event left its node and when its verdict came back to it, kept in buckets of
    /// <see cref="BucketSeconds"/> by send time (from <see cref="Begin"/>). It sees the nodes' traffic as it passes
    /// their MQTT client (<see cref="INodeTraffic"/>); thread-safe, and it only records, so a report never holds up a
    /// node and the bench does not add its own pauses to what it measures.
    /// </summary>
    private sealed class LatencyRecorder : INodeTraffic
    {
        public const int BucketSeconds = 10;

        private readonly ConcurrentDictionary<(string Node, uint Sequence), (long Ticks, double At)> _pending = new();
        private readonly ConcurrentDictionary<int, ConcurrentQueue<double>> _latencies = new();
        private readonly ConcurrentDictionary<int, StrongBox<int>> _sent = new();
        private long _zero = Stopwatch.GetTimestamp();
        private int _sentTotal, _verdicts;

        /// <summary>Distinct events published (a resend of one is not counted again).</summary>
        public int Sent => Volatile.Read(ref _sentTotal);

        public int Verdicts => Volatile.Read(ref _verdicts);

        public int Outstanding => _pending.Count;

        /// <summary>Time zero of the buckets: the load starts now.</summary>
        public void Begin() => Volatile.Write(ref _zero, Stopwatch.GetTimestamp());

        void INodeTraffic.Sent(string nodeId, string topic, byte[] payload)
        {
            if (!topic.EndsWith("/up/event", StringComparison.Ordinal) || WireCodec.Decode(payload, 0, payload.Length) is not EventMessage e)
            {
                return;
            }

            long now = Stopwatch.GetTimestamp();
            double at = Stopwatch.GetElapsedTime(Volatile.Read(ref _zero), now).TotalSeconds;
            if (_pending.TryAdd((nodeId, e.Sequence), (now, at)))
            {
                Interlocked.Increment(ref _sent.GetOrAdd(Bucket(at), _ => new StrongBox<int>()).Value);
                Interlocked.Increment(ref _sentTotal);
            }
        }

        void INodeTraffic.Received(string nodeId, string topic, byte[] payload)
        {
            long now = Stopwatch.GetTimestamp();
            if (WireCodec.Decode(payload, 0, payload.Length) is VerdictMessage v && _pending.TryRemove((nodeId, v.EventSequence), out (long Ticks, double At) sent))
            {
                _latencies.GetOrAdd(Bucket(sent.At), _ => new ConcurrentQueue<double>()).Enqueue(Stopwatch.GetElapsedTime(sent.Ticks, now).TotalMilliseconds);
                Interlocked.Increment(ref _verdicts);
            }
        }

        public async Task Drain(TimeSpan patience)
        {
            var clock = Stopwatch.StartNew();
            while (!_pending.IsEmpty && clock.Elapsed < patience)
            {
                await Task.Delay(100);
            }
        }

        /// <summary>Figures for events sent in [from, to), seconds (multiples of <see cref="BucketSeconds"/>).</summary>
        public Summary Between(double from, double to)
        {
            int first = Bucket(from), last = to >= int.MaxValue ? int.MaxValue : Bucket(to) - 1;
            double[] ms = _latencies.Where(b => b.Key >= first && b.Key <= last).SelectMany(b => b.Value.ToArray()).OrderBy(v => v).ToArray();
            int sent = _sent.Where(b => b.Key >= first && b.Key <= last).Sum(b => Volatile.Read(ref b.Value.Value));
            return ms.Length == 0
                ? new Summary(sent, 0, double.NaN, double.NaN, double.NaN, double.NaN)
                : new Summary(sent, ms.Length, Quantile(ms, 0.5), Quantile(ms, 0.99), Quantile(ms, 0.999), ms[^1]);
        }

        /// <summary>Every bucket with verdicts, by its end time.</summary>
        public List<(double At, Summary S)> Buckets() =>
            _latencies.Keys.OrderBy(k => k).Select(k => ((k + 1) * (double)BucketSeconds, Between(k * BucketSeconds, (k + 1) * BucketSeconds))).ToList();

        private static int Bucket(double seconds) => (int)Math.Floor(seconds / BucketSeconds);

        private static double Quantile(double[] sorted, double q) => sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(q * sorted.Length) - 1)];
    }
}
