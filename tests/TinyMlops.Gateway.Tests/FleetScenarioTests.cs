using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using TinyMlops.Firmware.Host.Simulation;
using TinyMlops.TestBed;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>
/// The fleet simulator's scenarios: a schedule in sample time switches a node's sensor between recordings, each
/// resumed where it stopped, and starts and ends the faults a real sensor has; a scenario file with a mistake is
/// refused saying where.
/// </summary>
public class FleetScenarioTests
{
    private static readonly string[] Boards = ["esp32-wroom-32", "esp32-c3"];
    private static readonly string[] Recordings = ["config1-speed050", "config2-speed050"];

    [Fact]
    public void Windows_are_counted_under_the_condition_shown_when_they_complete_as_the_node_captures_them()
    {
        var healthy = new SensorTrack("h", "healthy", [1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0]);
        var faulty = new SensorTrack("f", "imbalance", [5, 6], [0, 0], [0, 0]);
        // Windows of 4 at 10 samples/s: 3 samples while held (commissioning), then h until 0.5 s and f after. The node's
        // windows end at samples 4 and 8 (h, the first mostly held) and 12 and 16 (f). Samples ÷ window length, as
        // this was counted before, made it 1 healthy (5 samples) and 2 imbalance (8).
        var sensor = new ScenarioSensor([healthy, faulty], [new SensorStep(0, "h", null), new SensorStep(0.5, "f", null)], 10) { Held = true, WindowLength = 4 };
        var xyz = new float[3];
        for (int i = 0; i < 3; i++)
        {
            sensor.TryRead(xyz);
        }

        sensor.Held = false;
        for (int i = 0; i < 13; i++)
        {
            sensor.TryRead(xyz);
        }

        Assert.Equal([("healthy", 2L), ("imbalance", 2L)], sensor.WindowsByCondition().Select(kv => (kv.Key, kv.Value)).Order());

        // A power cycle: the new boot's capture starts again, so its first window ends 4 samples later, not 3.
        sensor.RestartCapture();
        for (int i = 0; i < 3; i++)
        {
            sensor.TryRead(xyz);
        }

        Assert.Equal(2L, sensor.WindowsByCondition().Single(kv => kv.Key == "imbalance").Value);
        sensor.TryRead(xyz);
        Assert.Equal(3L, sensor.WindowsByCondition().Single(kv => kv.Key == "imbalance").Value);
    }

    [Fact]
    public void A_schedule_switches_recordings_in_sample_time_and_injects_sensor_faults()
    {
        var healthy = new SensorTrack("h", "healthy", [1, 2, 3, 4], [10, 20, 30, 40], [0, 0, 0, 0]);
        var faulty = new SensorTrack("f", "imbalance", [-1, -2], [-10, -20], [5, 5]);
        // At 10 samples per second: 0.3 s of h, then f, a stuck sensor at 0.5 s, NaN at 0.7 s, a dead one at 0.8 s,
        // and back to h, working, at 0.9 s.
        var sensor = new ScenarioSensor([healthy, faulty],
        [
            new SensorStep(0, "h", null), new SensorStep(0.3, "f", null), new SensorStep(0.5, null, SensorFault.Stuck),
            new SensorStep(0.7, null, SensorFault.NaN), new SensorStep(0.8, null, SensorFault.Fail), new SensorStep(0.9, "h", SensorFault.None),
        ], rateHz: 10);
        var xyz = new float[3];
        var xs = new System.Collections.Generic.List<float>();
        var conditions = new System.Collections.Generic.List<string>();
        int failed = 0;
        for (int i = 0; i < 11; i++)
        {
            if (sensor.TryRead(xyz))
            {
                xs.Add(xyz[0]);
            }
            else
            {
                failed++;
                xs.Add(float.PositiveInfinity); // marks the failed read
            }

            conditions.Add(sensor.Condition);
        }

        Assert.Equal(new float[] { 1, 2, 3, -1, -2, -2, -2, float.NaN, float.PositiveInfinity, 4, 1 }, xs); // h resumes at its 4th sample
        Assert.Equal(1, failed);
        Assert.Equal(Enumerable.Repeat("healthy", 3).Concat(Enumerable.Repeat("imbalance", 6)).Concat(["healthy", "healthy"]), conditions);
        Assert.Equal(11, sensor.Reads);
        Assert.Equal(SensorFault.None, sensor.Fault);

        Assert.Throws<ArgumentException>(() => new ScenarioSensor([healthy], [new SensorStep(0, "nope", null)], 10));
        Assert.Throws<ArgumentException>(() => new ScenarioSensor([healthy], [new SensorStep(1, "h", null)], 10));
        Assert.Throws<ArgumentException>(() => new ScenarioSensor([healthy], [new SensorStep(0, "h", null), new SensorStep(2, "h", null), new SensorStep(1, "h", null)], 10));
    }

    [Fact]
    public void A_scenario_file_is_read_and_every_mistake_is_refused_with_where_it_is()
    {
        var nodes = FleetScenario.Parse("""
            // two fans on line 4
            {"nodes": [
              {"id": "fan-1", "board": "esp32-wroom-32", "schedule": [{"at": 0, "play": "config1-speed050"}, {"at": 60, "play": "config2-speed050"},
                {"at": 90, "fault": "stuck-sensor"}, {"at": 95, "fault": "none"}]},
              {"id": "fan-2", "board": "esp32-c3", "schedule": [{"at": 0, "play": "config1-speed050", "fault": "nan-samples"}]},
            ]}
            """, Boards, Recordings);
        Assert.Equal(["fan-1", "fan-2"], nodes.Select(n => n.Id));
        Assert.Equal(new SensorStep(90, null, SensorFault.Stuck), nodes[0].Schedule[2]);
        Assert.Equal(new SensorStep(0, "config1-speed050", SensorFault.NaN), nodes[1].Schedule[0]);

        foreach ((string json, string said) in new[]
        {
            ("[]", "non-empty \"nodes\""),
            ("{\"nodes\": [{\"board\": \"esp32-c3\", \"schedule\": []}]}", "nodes[0]: \"id\" is required"),
            ("{\"nodes\": [{\"id\": \"gateway-x\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}]}]}", "reserved"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp8266\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}]}]}", "board 'esp8266'"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config9\"}]}]}", "nodes[0].schedule[0]: no recording 'config9'"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 5, \"play\": \"config1-speed050\"}]}]}", "the first step is at 0"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}, {\"at\": 9, \"fault\": \"smoke\"}]}]}", "nodes[0].schedule[1]: fault \"smoke\""),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}, {\"at\": -1, \"fault\": \"none\"}]}]}", "\"at\" must be a time"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}, {\"at\": 9}]}]}", "a step plays a recording"),
            ("{\"nodes\": [{\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}]}, {\"id\": \"a\", \"board\": \"esp32-c3\", \"schedule\": [{\"at\": 0, \"play\": \"config1-speed050\"}]}]}", "nodes[1]: id 'a' is given twice"),
            ("{\"nodes\": [", "not JSON"),
        })
        {
            FormatException e = Assert.Throws<FormatException>(() => FleetScenario.Parse(json, Boards, Recordings));
            Assert.Contains(said, e.Message);
        }
    }
}

/// <summary><c>tinymlops fleet</c> against a running gateway: every node logs in, detects, and gets verdicts back, scored per condition.</summary>
public class FleetCommandTests
{
    [Fact]
    public async Task A_fleet_runs_against_a_gateway_and_is_scored_per_condition()
    {
        string gatewayDir = Harness.Temp("fleet-gateway");
        RunningGateway.Prepare(gatewayDir);
        File.WriteAllBytes(Path.Combine(gatewayDir, "verifier.onnx"), Harness.Verifier(1, 36));
        await using RunningGateway g = await RunningGateway.Start(null, null, gatewayDir);
        string model = Harness.Temp("fleet-model"), outDir = Harness.Temp("fleet-out");
        File.WriteAllBytes(Path.Combine(model, "detector.tmlm"), Recordings.EveryWindowSuspicious(Boards.Checkout.FindRoot()));
        string nodes = Path.Combine(gatewayDir, "nodes.json"), keys = Path.Combine(gatewayDir, "node-keys.json");
        string[] args = ["fleet", "--model", model, "--broker", $"mqtt://127.0.0.1:{g.MqttPort}", "--nodes", "3", "--samples", "30", "--speed", "4",
            "--gateway-nodes", nodes, "--gateway-keys", keys, "--out", outDir];

        Assert.Equal(0, Cli.Program.Main(args));
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "fleet-summary.json")));
        JsonElement[] report = [.. summary.RootElement.GetProperty("nodes").EnumerateArray()];
        Assert.Equal(["fan-001", "fan-002", "fan-003"], report.Select(n => n.GetProperty("id").GetString()));
        Assert.All(report, n =>
        {
            Assert.True(n.GetProperty("windows").GetInt64() > 10, n.ToString());
            Assert.True(n.GetProperty("eventsSent").GetInt64() > 0, n.ToString());
            Assert.True(n.GetProperty("verdicts").GetInt64() > 0, n.ToString());
            Assert.Equal(1u, n.GetProperty("modelVersion").GetUInt32());
        });

        // 30 s of recording per node: a third healthy, then each imbalance; this detector flags every window.
        var conditions = summary.RootElement.GetProperty("conditions").EnumerateArray().ToDictionary(c => c.GetProperty("condition").GetString()!);
        Assert.Equal(["healthy", "imbalance"], conditions.Keys.Order());
        foreach (JsonElement c in conditions.Values)
        {
            long windows = c.GetProperty("windows").GetInt64(), events = c.GetProperty("events").GetInt64();
            Assert.True(windows > 20 && events > 0 && events <= windows + 3 && c.GetProperty("verdicts").GetInt64() > 0, c.ToString());
        }

        Assert.True(new Contracts.NodeKeys(keys).All.ContainsKey("fan-002"));

        // A second run takes up the same identities and node storage.
        string identities = File.ReadAllText(Path.Combine(outDir, "identities.json"));
        Assert.Equal(0, Cli.Program.Main(["fleet", "--model", model, "--broker", $"mqtt://127.0.0.1:{g.MqttPort}", "--nodes", "3", "--samples", "6", "--speed", "4", "--out", outDir]));
        Assert.Equal(identities, File.ReadAllText(Path.Combine(outDir, "identities.json")));

        // Node events from a scenario file: the link goes and comes back, the clock is unset, the node power-cycles.
        string scenario = Path.Combine(outDir, "faults.json");
        File.WriteAllText(scenario, """
            {"nodes": [{"id": "fan-009", "board": "esp32-wroom-32", "schedule": [
              {"at": 0, "play": "config1-speed050"}, {"at": 4, "node": "link-down"}, {"at": 8, "node": "link-up"},
              {"at": 10, "node": "clock-unset"}, {"at": 12, "play": "config2-speed050", "node": "reset"}]}]}
            """);
        Assert.Equal(0, Cli.Program.Main(["fleet", "--model", model, "--broker", $"mqtt://127.0.0.1:{g.MqttPort}", "--scenario", scenario, "--samples", "16", "--speed", "4",
            "--gateway-nodes", nodes, "--gateway-keys", keys, "--out", Path.Combine(outDir, "faults")]));
        using (JsonDocument faults = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "faults", "fleet-summary.json"))))
        {
            JsonElement node = Assert.Single(faults.RootElement.GetProperty("nodes").EnumerateArray());
            Assert.Equal(1, faults.RootElement.GetProperty("resets").GetInt32());
            Assert.True(node.GetProperty("boot").GetUInt32() >= 2, node.ToString()); // it booted again from its storage
            Assert.True(node.GetProperty("connected").GetBoolean(), node.ToString()); // back after the link came up, and after the reset
            Assert.True(node.GetProperty("verdicts").GetInt64() > 0, node.ToString());
        }

        string clock = (await g.Metrics()).Split('\n').Single(l => l.StartsWith("tinymlops_gateway_clock_implausible_total ", StringComparison.Ordinal));
        Assert.True(long.Parse(clock.Split(' ')[1]) > 0, clock); // events stamped by the unset clock were flagged, and kept

        Assert.Equal(2, Cli.Program.Main(["fleet", "--model", model, "--broker", "http://x", "--out", outDir]));
        string bad = Path.Combine(outDir, "bad.json");
        File.WriteAllText(bad, """{"nodes": [{"id": "a", "board": "esp32-c3", "schedule": [{"at": 0, "play": "config7"}]}]}""");
        Assert.Equal(2, Cli.Program.Main(["fleet", "--model", model, "--scenario", bad, "--out", outDir]));
    }
}
