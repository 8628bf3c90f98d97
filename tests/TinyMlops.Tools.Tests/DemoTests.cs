using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Cli;
using Xunit;

namespace TinyMlops.Tools.Tests;

/// <summary>
/// The README's main job, short: every tier runs for real (trainer service, gateway process with its broker,
/// simulated nodes running the firmware core) and the summary's outcomes are asserted, not its timings.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class DemoTests
{
    [Fact]
    public void A_short_demo_confirms_every_injected_fault_and_ends_with_release_2_on_every_node()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-demo-" + Guid.NewGuid().ToString("N"));
        // The default scenario's three nodes, one of which loses power while its first model is downloading.
        string scenario = Path.Combine(Path.GetTempPath(), "tinymlops-demo-scenario-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(scenario, JsonSerializer.Serialize(new
        {
            nodes = new[] { "025", "035", "045" }.Select((speed, i) => new
            {
                id = $"fan-{i + 1:D3}",
                board = DemoCommand.Board,
                schedule = new object[]
                {
                    new { at = 0, play = $"config1-speed{speed}", node = i == 1 ? "reset-on-download" : null },
                    new { at = 64, play = $"config2-speed{speed}" },
                    new { at = 128, play = $"config3-speed{speed}" },
                },
            }),
        }, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
        var output = new StringWriter();
        TextWriter oldOut = Console.Out;
        Console.SetOut(output);
        int exit;
        try
        {
            exit = Program.Main(["demo", "--scenario", scenario, "--duration", "24", "--speed", "8", "--out", dir]);
        }
        finally
        {
            Console.SetOut(oldOut);
            File.Delete(scenario);
        }

        bool passed = false;
        try
        {
            Assert.True(exit == 0, output.ToString());
            using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "demo-summary.json")));
            JsonElement s = summary.RootElement;
            Assert.True(s.GetProperty("everyFaultConfirmed").GetBoolean(), output.ToString());
            Assert.True(s.GetProperty("everyNodeHasModel").GetBoolean(), output.ToString());
            Assert.True(s.GetProperty("secondVersionEverywhere").GetBoolean(), output.ToString());
            Assert.Equal(1, s.GetProperty("resets").GetInt32()); // fan-002 went down mid-download and still confirmed both releases

            // Both imbalance recordings of each node's held-out speed were shown and alarmed on.
            Assert.Equal("6 of 6 confirmed", s.GetProperty("injectedFaults").GetProperty("imbalance").GetString());
            JsonElement[] rollouts = s.GetProperty("rollouts").EnumerateArray().ToArray();
            Assert.Equal([1L, 2L], rollouts.Select(r => r.GetProperty("sequence").GetInt64()));
            Assert.All(rollouts, r => Assert.Equal(("completed", 3), (r.GetProperty("state").GetString(), r.GetProperty("confirmed").GetInt32())));
            Assert.Equal("1,50%,100%", rollouts[1].GetProperty("groups").GetString());
            JsonElement[] nodes = s.GetProperty("nodeStates").EnumerateArray().ToArray();
            Assert.Equal(3, nodes.Length);
            Assert.All(nodes, n => Assert.Equal(2, n.GetProperty("release").GetInt64()));
            Assert.All(nodes, n => Assert.True(n.GetProperty("windows").GetInt64() > 0));

            // Each node's own figures are its share of the fleet's: they add up to the summary's.
            Assert.Equal(s.GetProperty("healthyWindows").GetInt64(), nodes.Sum(n => n.GetProperty("healthyWindows").GetInt64()));
            Assert.Equal(s.GetProperty("healthyAlarms").GetInt64(), nodes.Sum(n => n.GetProperty("healthyAlarms").GetInt64()));
            Assert.Equal(s.GetProperty("faultWindows").GetInt64(), nodes.Sum(n => n.GetProperty("faultWindows").GetInt64()));
            Assert.Equal(s.GetProperty("faultConfirmed").GetInt64(), nodes.Sum(n => n.GetProperty("faultConfirmed").GetInt64()));
            Assert.All(nodes, n => Assert.Matches("^config1-speed\\d{3}$", n.GetProperty("healthyRecording").GetString()));

            // The counts add up: alarms are verdicts, verdicts answer events, events are flagged windows.
            foreach (JsonElement c in s.GetProperty("conditions").EnumerateArray())
            {
                long windows = c.GetProperty("windows").GetInt64(), events = c.GetProperty("events").GetInt64();
                long verdicts = c.GetProperty("verdicts").GetInt64(), confirmed = c.GetProperty("confirmed").GetInt64();
                Assert.True(confirmed <= verdicts && verdicts <= events && events <= windows + 3, $"{c}");
            }

            Assert.Contains("fault windows confirmed", output.ToString());
            Assert.True(File.Exists(Path.Combine(dir, "gateways", "gw-1", "gateway.log")));
            Assert.True(File.Exists(Path.Combine(dir, "models", "v2", "model-card.md")));
            passed = true;
        }
        finally
        {
            if (passed)
            {
                Directory.Delete(dir, recursive: true); // a failed run's folder (gateway log, registry) is kept to look at
            }
        }
    }

    [Fact]
    public void The_demo_refuses_a_folder_it_did_not_make_and_a_shared_broker_for_several_gateways()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-demo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "precious.txt"), "not the demo's");
        var errors = new StringWriter();
        TextWriter oldError = Console.Error;
        Console.SetError(errors);
        try
        {
            Assert.Equal(2, Program.Main(["demo", "--out", dir]));
            Assert.Contains("not an earlier demo's", errors.ToString());
            Assert.True(File.Exists(Path.Combine(dir, "precious.txt")));
            Assert.Equal(2, Program.Main(["demo", "--gateways", "2", "--broker", "mqtt://127.0.0.1:1883", "--out", dir]));
            Assert.Contains("every gateway would verify every node's events", errors.ToString());
        }
        finally
        {
            Console.SetError(oldError);
            Directory.Delete(dir, recursive: true);
        }
    }
}
