using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Host.Simulation;
using TinyMlops.TestBed;
using TinyMlops.Trainer.Data;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops fleet</c>: simulated nodes, each running the firmware core's node controller, replay recordings on a
/// schedule (a scenario file, docs/fleet.md, or a default one) against a gateway's broker, and the run is scored:
/// windows shown per condition, events the nodes sent, verdicts and alarms the gateway gave back.
/// </summary>
public static class FleetCommand
{
    /// <summary>The fan's held-out speeds: a default fleet's nodes run at these, in turn.</summary>
    internal static readonly int[] Speeds = [25, 35, 45, 55, 65, 75, 85, 95];

    /// <summary>
    /// <c>fleet --model DIR [--broker mqtt://HOST:PORT] [--nodes N] [--board B] [--scenario FILE] [--data DIR]
    /// [--gateway-nodes FILE] [--gateway-keys FILE] [--duration S] [--speed X] [--out DIR]</c>.
    /// </summary>
    public static int Run(Options o)
    {
        (string host, int port) = Broker(o.Get("broker") ?? "mqtt://127.0.0.1:1883");
        string modelFile = Path.Combine(o.Get("model")!, "detector.tmlm");
        if (!File.Exists(modelFile))
        {
            throw new UsageException($"--model {o.Get("model")} has no detector.tmlm (a `tinymlops train` folder)");
        }

        double seconds = o.GetDouble("duration", 60), speed = o.GetDouble("speed", 1);
        double? samples = o.Get("samples") != null ? o.GetDouble("samples", 0) : null;
        if (!(seconds > 0) || !(speed is > 0 and <= 100) || samples is <= 0)
        {
            throw new UsageException("--duration and --samples are seconds (more than 0) and --speed a replay rate in (0, 100]");
        }

        if (samples != null && o.Get("duration") != null)
        {
            throw new UsageException("--duration (wall-clock time) and --samples (recording time per node) are two ways to say how long: give one");
        }

        double recording = samples ?? seconds * speed;

        string data = o.Get("data") ?? Path.Combine(Checkout.FindRoot(), "data", "uci-accelerometer-fan");
        Console.Error.WriteLine($"[fleet] reading recordings from {data}");
        Dataset dataset = DatasetLoader.Load(data);
        string[] recordings = [.. dataset.Recordings.Select(r => r.Id)];
        string[] boards = [.. BoardProfile.List(Path.Combine(Checkout.FindRoot(), "boards"))];
        IReadOnlyList<FleetNode> nodes;
        try
        {
            nodes = o.Get("scenario") is { } scenario
                ? FleetScenario.Parse(File.ReadAllText(scenario), boards, recordings)
                : DefaultScenario(o.GetInt("nodes", 3), o.Get("board") ?? "esp32-wroom-32", recording, recordings, boards);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{o.Get("scenario") ?? "the default scenario"}: {e.Message}");
        }

        string outDir = o.Get("out") ?? Path.Combine("out", "fleet");
        Dictionary<string, FleetIdentity> identities = Provision(nodes, outDir, o.Get("gateway-nodes"), o.Get("gateway-keys"));

        Console.Error.WriteLine(samples == null
            ? $"[fleet] {nodes.Count} nodes against mqtt://{host}:{port} for {seconds:F0} s at {speed:F1}x (up to {recording:F0} s of recording each)"
            : $"[fleet] {nodes.Count} nodes against mqtt://{host}:{port} until each has replayed {recording:F0} s of recording, at {speed:F1}x");
        var clock = Stopwatch.StartNew();
        FleetRun run = FleetRun.Start(nodes, identities, board => Tracks(dataset, nodes, board), File.ReadAllBytes(modelFile), Path.Combine(outDir, "nodes"), host, port, speed);
        IReadOnlyList<FleetNodeReport> report;
        IReadOnlyList<ConditionScore> scores;
        int resets;
        try
        {
            // A host too slow to keep up still ends: ten times the nominal time, then it says so.
            double limit = samples == null ? seconds : (10 * recording / speed) + 60;
            while (samples == null ? clock.Elapsed.TotalSeconds < seconds : run.MinSampleSeconds < recording)
            {
                if (clock.Elapsed.TotalSeconds > limit)
                {
                    throw new CliException($"the fleet replayed only {run.MinSampleSeconds:F0} of {recording:F0} s of recording in {limit:F0} s: this host cannot keep up at {speed}x");
                }

                Thread.Sleep(TimeSpan.FromSeconds(samples == null ? Math.Min(2, Math.Max(0.05, seconds - clock.Elapsed.TotalSeconds)) : 0.2));
                if (samples == null || clock.Elapsed.TotalSeconds % 2 < 0.2)
                {
                    IReadOnlyList<FleetNodeReport> now = run.Nodes();
                    Console.Error.WriteLine($"[fleet] {clock.Elapsed.TotalSeconds,5:F0} s: {now.Count(n => n.Connected)}/{now.Count} connected, {run.MinSampleSeconds:F0} s replayed, {now.Sum(n => n.Windows)} windows, {now.Sum(n => n.EventsSent)} events, {now.Sum(n => n.Verdicts)} verdicts");
                }
            }

            report = run.Nodes();
            scores = run.Scores();
            resets = run.Resets;
        }
        finally
        {
            run.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        Print(report, scores);
        string summary = Path.Combine(outDir, "fleet-summary.json");
        File.WriteAllText(summary, JsonSerializer.Serialize(new { broker = $"mqtt://{host}:{port}", seconds = clock.Elapsed.TotalSeconds, recordingSeconds = run.MinSampleSeconds, speed, resets, nodes = report, conditions = scores }, new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true }));
        Console.WriteLine($"wrote {summary}; node storage (A/B slots, boot records) under {Path.Combine(outDir, "nodes")}");
        return report.Any(n => n.Windows == 0) ? 1 : 0;
    }

    /// <summary>
    /// The recordings <paramref name="nodes"/>' schedules play, resampled to <paramref name="board"/>'s rate. Only those:
    /// each recording costs a sinc pass per axis at every board's rate.
    /// </summary>
    internal static IReadOnlyList<SensorTrack> Tracks(Dataset dataset, IReadOnlyList<FleetNode> nodes, BoardProfile board)
    {
        var played = new HashSet<string>(nodes.SelectMany(n => n.Schedule).Select(step => step.Play).OfType<string>(), StringComparer.Ordinal);
        double rate = board.Sampling!.SampleRateHz;
        // A node that learns its baseline from the start of a healthy recording is never shown that start again:
        // the track loops back to just after it, so no healthy window it is scored on is one the baseline saw.
        int learned = board.Sampling.BaselineWindows * board.Sampling.WindowLength;
        return dataset.Recordings.Where(r => played.Contains(r.Id)).Select(r =>
        {
            float[] x = Resampler.Resample(r.X, r.SampleRateHz, rate), y = Resampler.Resample(r.Y, r.SampleRateHz, rate), z = Resampler.Resample(r.Z, r.SampleRateHz, rate);
            return new SensorTrack(r.Id, r.Label, x, y, z, r.Healthy && learned + board.Sampling.WindowLength <= x.Length ? learned : 0);
        }).ToList();
    }

    /// <summary>
    /// <paramref name="count"/> nodes on <paramref name="board"/>, node i at the i-th held-out speed in turn: healthy
    /// for the first third of <paramref name="sampleSeconds"/>, then each imbalance configuration for a third.
    /// </summary>
    internal static IReadOnlyList<FleetNode> DefaultScenario(int count, string board, double sampleSeconds, IReadOnlyCollection<string> recordings, IReadOnlyCollection<string> boards)
    {
        var json = new
        {
            nodes = Enumerable.Range(1, count).Select(i =>
            {
                string speed = Speeds[(i - 1) % Speeds.Length].ToString("D3", CultureInfo.InvariantCulture);
                return new
                {
                    id = $"fan-{i:D3}",
                    board,
                    schedule = new object[]
                    {
                        new { at = 0.0, play = $"config1-speed{speed}" },
                        new { at = sampleSeconds / 3, play = $"config2-speed{speed}" },
                        new { at = 2 * sampleSeconds / 3, play = $"config3-speed{speed}" },
                    },
                };
            }),
        };
        return FleetScenario.Parse(JsonSerializer.Serialize(json), boards, recordings);
    }

    /// <summary>Each node's MQTT password and update key: kept in the run's folder, registered with the gateway where asked.</summary>
    internal static Dictionary<string, FleetIdentity> Provision(IReadOnlyList<FleetNode> nodes, string outDir, string? gatewayNodes, string? gatewayKeys)
    {
        Directory.CreateDirectory(outDir);
        string file = Path.Combine(outDir, "identities.json");
        Dictionary<string, string[]> kept = File.Exists(file) ? JsonSerializer.Deserialize<Dictionary<string, string[]>>(File.ReadAllText(file)) ?? [] : [];
        var result = new Dictionary<string, FleetIdentity>(StringComparer.Ordinal);
        var logins = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (FleetNode n in nodes)
        {
            string[] id = kept.TryGetValue(n.Id, out string[]? k) && k.Length == 2
                ? k
                : [Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))];
            kept[n.Id] = id;
            result[n.Id] = new FleetIdentity(id[0], Convert.FromHexString(id[1]));
            logins[n.Id] = id[0];
            if (gatewayKeys != null)
            {
                NodeKeys.Register(gatewayKeys, n.Id, Convert.FromHexString(id[1]), BoardProfile.Load(n.Board).BoardClass);
            }
        }

        SecretFile.WriteAllText(file, JsonSerializer.Serialize(kept)); // passwords and keys: owner-only
        if (gatewayNodes != null)
        {
            // One write for the fleet (a hash per node); the gateway re-reads the file.
            foreach ((string node, string password) in logins)
            {
                NodeRegistry.AddOrReplace(gatewayNodes, node, password, iterations: 10_000);
            }
        }

        return result;
    }

    internal static (string Host, int Port) Broker(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? u) || u.Scheme != "mqtt" || u.Port is < 1 or > 65535)
        {
            throw new UsageException($"--broker {url} is not mqtt://HOST:PORT");
        }

        return (u.Host, u.Port);
    }

    private static void Print(IReadOnlyList<FleetNodeReport> nodes, IReadOnlyList<ConditionScore> scores)
    {
        Console.WriteLine($"{"node",-12} {"board",-16} {"link",-5} {"boot",4} {"windows",8} {"flagged",8} {"events",7} {"acked",6} {"verdicts",8} {"model",6} {"update",-15} showing");
        foreach (FleetNodeReport n in nodes)
        {
            Console.WriteLine($"{n.Id,-12} {n.Board,-16} {(n.Connected ? "up" : "down"),-5} {n.Boot,4} {n.Windows,8} {n.Suspicious,8} {n.EventsSent,7} {n.EventsAcknowledged,6} {n.Verdicts,8} {n.ModelVersion,6} {n.UpdateState,-15} {n.Condition}");
        }

        Console.WriteLine($"{"condition",-12} {"windows",8} {"events",7} {"verdicts",8} {"alarms",7}  (events and alarms as a share of the windows shown)");
        foreach (ConditionScore c in scores)
        {
            string Share(long n) => c.Windows == 0 ? "-" : (n / (double)c.Windows).ToString("P1", CultureInfo.InvariantCulture);
            Console.WriteLine($"{c.Condition,-12} {c.Windows,8} {c.Events,7} {c.Verdicts,8} {c.Confirmed,7}  events {Share(c.Events)}, alarms {Share(c.Confirmed)}");
        }
    }
}
