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
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
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
/// interleaved. (2) End to end: the gateway in its own process, simulated nodes on loopback publishing QoS 1 events
/// at a fixed total rate, latency from the node's publish to the verdict arriving at that node, per report interval,
/// with the gateway's resident memory and managed heap, and every event accounted for.
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
        var load = new LoadShape(o.Nodes, o.Rate, o.Minutes, o.Report);
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
    private sealed record LoadShape(int Nodes, int EventsPerSecond, double Minutes, int ReportSeconds);

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
                return await Drive(gateway, mqttPort, passwords, features, board, load, output);
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

    private static async Task<bool> Drive(GatewayProcess gateway, int port, Dictionary<string, string> passwords, int features, BoardProfile board, LoadShape load, string output)
    {
        var recorder = new LatencyRecorder();
        var clients = new List<IMqttClient>();
        Console.Error.WriteLine($"[bench] connecting {passwords.Count} nodes");
        using (var gate = new SemaphoreSlim(8))
        {
            int index = 0;
            clients.AddRange(await Task.WhenAll(passwords.Select(async p =>
            {
                int node = Interlocked.Increment(ref index) - 1;
                await gate.WaitAsync();
                try
                {
                    return await ConnectNode(port, p.Key, p.Value, node, recorder);
                }
                finally
                {
                    gate.Release();
                }
            })));
        }

        var frames = new FrameMaker(features, board.Sampling!);
        TimeSpan interval = TimeSpan.FromSeconds(load.Nodes / (double)load.EventsPerSecond);
        TimeSpan duration = TimeSpan.FromMinutes(load.Minutes);
        Console.WriteLine($"end to end: {load.Nodes} nodes x {1 / interval.TotalSeconds:G3} ev/s = {load.EventsPerSecond} ev/s for {load.Minutes:G} min, QoS 1, " +
            $"{frames.FrameBytes} B frames ({board.Sampling!.WindowLength} samples x 3 axes), gateway in its own process with the uplink to a trainer stand-in");
        Console.WriteLine("publish (node) -> verdict received (node); the first 10 s are warm-up and left out of the overall figures");
        Console.WriteLine();
        Console.WriteLine("  time   sent  verdicts   p50 ms   p99 ms   max ms   gateway RSS MiB   GC heap MiB   gateway CPU %");

        using var stop = new CancellationTokenSource();
        var start = Stopwatch.StartNew();
        Task[] senders = clients.Select((c, i) => Task.Run(() => Send(c, i, frames, recorder, interval, TimeSpan.FromTicks(interval.Ticks * i / clients.Count), duration, start, stop.Token))).ToArray();
        var samples = new List<Sample>();
        double lastCpu = 0, lastAt = 0;
        for (double at = load.ReportSeconds; at <= duration.TotalSeconds + 1e-9; at += load.ReportSeconds)
        {
            TimeSpan wait = TimeSpan.FromSeconds(at) - start.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            Dictionary<string, double> m = await GatewayFigures(gateway);
            double cpu = m.GetValueOrDefault("process_cpu_seconds_total");
            var sample = new Sample(at, m.GetValueOrDefault("process_resident_memory_bytes") / 1048576, m.GetValueOrDefault("dotnet_gc_heap_size_bytes") / 1048576, 100 * (cpu - lastCpu) / (at - lastAt));
            (lastCpu, lastAt) = (cpu, at);
            samples.Add(sample);
            Summary s = recorder.Between(at - load.ReportSeconds, at);
            Console.WriteLine($"{TimeSpan.FromSeconds(at):mm\\:ss} {s.Sent,6} {s.Verdicts,9} {s.P50,8:F2} {s.P99,8:F2} {s.Max,8:F1} {sample.RssMiB,17:F1} {sample.HeapMiB,13:F1} {sample.CpuPercent,15:F0}");
        }

        await Task.WhenAll(senders);
        await recorder.Drain(TimeSpan.FromSeconds(15));
        Dictionary<string, double> final = await GatewayFigures(gateway);
        foreach (IMqttClient c in clients)
        {
            c.Dispose();
        }

        Summary all = recorder.Between(WarmUpSeconds, int.MaxValue);
        Console.WriteLine();
        Console.WriteLine($"events sent {recorder.Sent}, acknowledged {recorder.Acknowledged}, verdicts received {recorder.Verdicts}, unanswered {recorder.Outstanding}");
        Console.WriteLine($"gateway: stored {final.GetValueOrDefault("tinymlops_gateway_events_stored_total")}, verified {final.GetValueOrDefault("tinymlops_gateway_events_verified_total")}, " +
            $"forwarded {final.GetValueOrDefault("tinymlops_gateway_uplink_forwarded_total")}, stored->verdict p99 {final.GetValueOrDefault("tinymlops_gateway_verification_latency_ms{quantile=\"0.99\"}"):F2} ms (its own /metrics)");
        Console.WriteLine();
        bool latencyMet = all.P99 <= 10;
        bool complete = recorder.Outstanding == 0 && recorder.Acknowledged == recorder.Sent;
        Console.WriteLine($"figure                                     value      target");
        Console.WriteLine($"p50 publish -> verdict (ms)           {all.P50,10:F2}");
        Console.WriteLine($"p99 publish -> verdict (ms)           {all.P99,10:F2}      <= 10 {(latencyMet ? "met" : "MISSED")}");
        Console.WriteLine($"p99.9 / max (ms)                      {all.P999,10:F2} / {all.Max:F1}");
        Console.WriteLine($"every event acknowledged and answered  {(complete ? "yes" : "NO"),9}");
        Sample first = samples.FirstOrDefault(s => s.AtSeconds >= 60) ?? samples[0], last = samples[^1];
        Console.WriteLine($"gateway RSS at {first.AtSeconds / 60:G3} min -> {last.AtSeconds / 60:G3} min (MiB)   {first.RssMiB:F1} -> {last.RssMiB:F1}  ({last.RssMiB / first.RssMiB:F2}x)");
        Console.WriteLine($"gateway GC heap at {first.AtSeconds / 60:G3} min -> {last.AtSeconds / 60:G3} min (MiB) {first.HeapMiB:F1} -> {last.HeapMiB:F1}  ({last.HeapMiB / first.HeapMiB:F2}x)");
        Plot(output, recorder, samples);
        Console.WriteLine();
        Console.WriteLine($"plots: {Path.Combine(output, "latency.png")}, {Path.Combine(output, "memory.png")}");
        return latencyMet && complete;
    }

    private static async Task<IMqttClient> ConnectNode(int port, string node, string password, int index, LatencyRecorder recorder)
    {
        IMqttClient c = new MqttClientFactory().CreateMqttClient();
        c.ApplicationMessageReceivedAsync += e =>
        {
            long now = Stopwatch.GetTimestamp();
            byte[] p = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
            if (WireCodec.Decode(p, 0, p.Length) is VerdictMessage v)
            {
                recorder.Answered(index, v.EventSequence, now);
            }

            return Task.CompletedTask;
        };
        MqttClientOptions o = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(node).WithCredentials(node, password)
            .WithTimeout(TimeSpan.FromSeconds(30)).WithKeepAlivePeriod(TimeSpan.FromSeconds(30)).Build();
        MqttClientConnectResult r = await c.ConnectAsync(o);
        if (r.ResultCode != MqttClientConnectResultCode.Success)
        {
            c.Dispose();
            throw new InvalidOperationException($"the gateway refused {node}: {r.ResultCode}");
        }

        await c.SubscribeAsync(new Topics(node).Verdict, MqttQualityOfServiceLevel.AtLeastOnce);
        return c;
    }

    private static async Task Send(IMqttClient client, int index, FrameMaker frames, LatencyRecorder recorder, TimeSpan interval, TimeSpan phase, TimeSpan duration, Stopwatch clock, CancellationToken ct)
    {
        string topic = new Topics(((MqttClientOptions)client.Options).ClientId).Event;
        TimeSpan due = phase;
        for (uint sequence = 0; due < duration && !ct.IsCancellationRequested; sequence++, due += interval)
        {
            TimeSpan wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }

            MqttApplicationMessage message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(frames.Make(index, sequence))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            recorder.Sending(index, sequence, clock.Elapsed.TotalSeconds);
            MqttClientPublishResult result = await client.PublishAsync(message, ct);
            if (result.IsSuccess)
            {
                recorder.Acknowledge();
            }
        }
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

    private static void Plot(string output, LatencyRecorder recorder, List<Sample> samples)
    {
        List<(double At, Summary S)> buckets = recorder.Buckets();
        double[] t = buckets.Select(b => b.At / 60).ToArray();
        Plots.Series(Path.Combine(output, "latency.png"), "Node publish -> verdict received (10 s buckets)", "minutes", "ms",
            ("p50", t, buckets.Select(b => b.S.P50).ToArray()), ("p99", t, buckets.Select(b => b.S.P99).ToArray()), ("target p99", new[] { 0.0, t.LastOrDefault() }, new[] { 10.0, 10.0 }));
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
    private sealed record Sample(double AtSeconds, double RssMiB, double HeapMiB, double CpuPercent);

    /// <summary>Latency figures over an interval.</summary>
    private sealed record Summary(int Sent, int Verdicts, double P50, double P99, double P999, double Max);

    /// <summary>Event frames as a node of the board would send them: its window of three axes, the verifier's feature count.</summary>
    private sealed class FrameMaker(int features, BoardSampling sampling)
    {
        private readonly short[] _samples = Enumerable.Range(0, 3 * sampling.WindowLength).Select(i => (short)((i * 37 % 2000) - 1000)).ToArray();

        public int FrameBytes => Make(0, 0).Length;

        public byte[] Make(int node, uint sequence)
        {
            var f = new float[features];
            for (int i = 0; i < f.Length; i++)
            {
                f[i] = (float)Math.Sin((node * 7.1) + (sequence * 0.37) + i);
            }

            return WireCodec.Encode(new EventMessage
            {
                Sequence = sequence,
                TimestampMs = 1_700_000_000_000 + (sequence * 200L),
                ModelId = 1,
                ModelVersion = 1,
                Score = 99,
                Threshold = 50,
                RealScore = 12.5f,
                SampleRateHz = sampling.SampleRateHz,
                Features = f,
                WindowLength = sampling.WindowLength,
                SampleScale = sampling.RangeG / 32768f,
                Samples = _samples,
            });
        }
    }

    /// <summary>
    /// When each event went out and when its verdict came back, kept in buckets of <see cref="BucketSeconds"/> by
    /// send time. Thread-safe, and a report never holds up the nodes' receive handlers (they only enqueue), so the
    /// bench does not add its own pauses to what it measures.
    /// </summary>
    private sealed class LatencyRecorder
    {
        public const int BucketSeconds = 10;

        private readonly ConcurrentDictionary<(int Node, uint Sequence), (long Ticks, double At)> _pending = new();
        private readonly ConcurrentDictionary<int, ConcurrentQueue<double>> _latencies = new();
        private readonly ConcurrentDictionary<int, StrongBox<int>> _sent = new();
        private int _acknowledged, _sentTotal, _verdicts;

        public int Sent => Volatile.Read(ref _sentTotal);

        public int Acknowledged => Volatile.Read(ref _acknowledged);

        public int Verdicts => Volatile.Read(ref _verdicts);

        public int Outstanding => _pending.Count;

        public void Sending(int node, uint sequence, double at)
        {
            _pending[(node, sequence)] = (Stopwatch.GetTimestamp(), at);
            Interlocked.Increment(ref _sent.GetOrAdd(Bucket(at), _ => new StrongBox<int>()).Value);
            Interlocked.Increment(ref _sentTotal);
        }

        public void Acknowledge() => Interlocked.Increment(ref _acknowledged);

        public void Answered(int node, uint sequence, long nowTicks)
        {
            if (_pending.TryRemove((node, sequence), out (long Ticks, double At) sent))
            {
                _latencies.GetOrAdd(Bucket(sent.At), _ => new ConcurrentQueue<double>()).Enqueue(Stopwatch.GetElapsedTime(sent.Ticks, nowTicks).TotalMilliseconds);
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
