using System.Collections.Generic;
using System.Device.Gpio;
using System.IO;
using System.Linq;
using System;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using Xunit;

namespace TinyMlops.Gateway.Tests;

public class TopicAclTests
{
    [Theory]
    [InlineData("node-1", "tinymlops/node-1/up/event", true)]
    [InlineData("node-1", "tinymlops/node-1/up/telemetry", true)]
    [InlineData("node-1", "tinymlops/node-2/up/event", false)]
    [InlineData("node-1", "tinymlops/node-1/down/verdict", false)]
    [InlineData("node-1", "tinymlops/node-1/up/", false)]
    [InlineData("node-1", "tinymlops/node-1/up/#", false)]
    [InlineData("node-1", "tinymlops/node-10/up/event", false)]
    [InlineData("node", "tinymlops/node-1/up/event", false)]
    public void A_node_publishes_only_under_its_own_up_topics(string node, string topic, bool allowed) =>
        Assert.Equal(allowed, TopicAcl.NodeMayPublish(node, topic));

    [Theory]
    [InlineData("node-1", "tinymlops/node-1/down/#", true)]
    [InlineData("node-1", "tinymlops/node-1/down/verdict", true)]
    [InlineData("node-1", "tinymlops/node-2/down/#", false)]
    [InlineData("node-1", "tinymlops/+/down/#", false)]
    [InlineData("node-1", "tinymlops/#", false)]
    [InlineData("node-1", "tinymlops/node-1/down/+", false)]
    [InlineData("node-1", "tinymlops/node-1/up/#", false)]
    public void A_node_subscribes_only_to_its_own_down_topics(string node, string filter, bool allowed) =>
        Assert.Equal(allowed, TopicAcl.NodeMaySubscribe(node, filter));

    // The embedded broker delivers these straight to the named node's session, so a topic that could reach another
    // node (or several) must not parse.
    [Theory]
    [InlineData("tinymlops/node-1/down/verdict", "node-1")]
    [InlineData("tinymlops/node-1/down/ota/chunk", null)]
    [InlineData("tinymlops/node-1/down/#", null)]
    [InlineData("tinymlops/+/down/verdict", null)]
    [InlineData("tinymlops/node-1/up/event", null)]
    [InlineData("tinymlops/node-1/down/", null)]
    [InlineData("other/node-1/down/verdict", null)]
    public void Only_one_node_s_down_topic_names_a_node_to_deliver_to(string topic, string? node)
    {
        Assert.Equal(node != null, TopicAcl.TryParseDownlink(topic, out string parsed));
        Assert.Equal(node ?? "", parsed);
    }

    [Fact]
    public void Client_id_and_user_name_must_be_the_same_valid_node_id()
    {
        Assert.True(TopicAcl.NodeMayConnect("node-1", "node-1"));
        Assert.False(TopicAcl.NodeMayConnect("node-1", "node-2"));
        Assert.False(TopicAcl.NodeMayConnect("a/b", "a/b"));
        Assert.False(TopicAcl.NodeMayConnect("node-1", null));
    }
}

public class AlarmPanelTests
{
    [Fact]
    public void A_confirmed_fault_lights_red_sounds_the_buzzer_and_both_time_out()
    {
        var chip = new SimulatedGpioDriver();
        var pins = new AlarmPins(17, 27, 22);
        var t0 = new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero);
        using (var panel = new AlarmPanel(new GpioController(chip), pins, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)))
        {
            Assert.Equal((PinValue.Low, PinValue.High, PinValue.Low), (chip.Level(17), chip.Level(27), chip.Level(22)));
            panel.Raise("node-1", "imbalance", t0);
            Assert.Equal((PinValue.High, PinValue.Low, PinValue.High), (chip.Level(17), chip.Level(27), chip.Level(22)));
            Assert.Equal("node-1: imbalance", panel.LastAlarm);
            panel.Tick(t0.AddSeconds(6));
            Assert.Equal((PinValue.High, PinValue.Low, PinValue.Low), (chip.Level(17), chip.Level(27), chip.Level(22)));
            panel.Raise("node-2", "bearing", t0.AddSeconds(30));
            panel.Silence(t0.AddSeconds(31));
            Assert.Equal(PinValue.Low, chip.Level(22));
            panel.Tick(t0.AddSeconds(89));
            Assert.True(panel.IsRaised);
            panel.Tick(t0.AddSeconds(91));
            Assert.False(panel.IsRaised);
            Assert.Equal(PinValue.High, chip.Level(27));
        }

        // Disposing drives every output low and closes it.
        Assert.Equal((PinValue.Low, PinValue.Low, PinValue.Low), (chip.Level(17), chip.Level(27), chip.Level(22)));
    }

    [Fact]
    public void Pins_come_from_the_board_profile_and_a_missing_one_is_named()
    {
        AlarmPins pins = AlarmPins.From(TinyMlops.Boards.BoardProfile.Load("rpi4").AlarmPins);
        Assert.Equal(new AlarmPins(17, 27, 22), pins);
        var e = Assert.Throws<ArgumentException>(() => AlarmPins.From(new Dictionary<string, int> { ["stackLightRed"] = 1, ["stackLightGreen"] = 2 }));
        Assert.Contains("buzzer", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GpioController(new SimulatedGpioDriver(8)).OpenPin(9, PinMode.Output));
    }
}

public class ConfigurationTests
{
    [Fact]
    public void Invalid_options_are_refused_with_every_problem_named()
    {
        var o = new GatewayOptions
        {
            GatewayId = "bad id",
            RetainForwardedHours = 0,
            Mqtt = new MqttOptions { Mode = BrokerMode.External, Port = 0, GatewayPassword = "" },
            Verifier = new VerifierOptions { MaxBatch = 0 },
            Uplink = new UplinkOptions { TrainerUrl = "not a url" },
            Alarms = new AlarmOptions { Driver = "relay" },
        };
        var result = new GatewayOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        foreach (string key in new[] { "GatewayId", "external broker needs Host and Port", "GatewayPassword", "MaxBatch", "TrainerUrl", "Driver", "RetainForwardedHours" })
        {
            Assert.Contains(result.Failures!, f => f.Contains(key, StringComparison.Ordinal));
        }

        Assert.True(new GatewayOptionsValidator().Validate(null, new GatewayOptions()).Succeeded);
    }

    [Fact]
    public void Provisioning_a_node_registers_the_login_in_its_node_cfg_with_the_gateway()
    {
        string dir = Harness.Temp("provision");
        try
        {
            string nodesFile = Path.Combine(dir, "etc", "nodes.json");
            NodeRegistry.AddOrReplace(nodesFile, "pump-1", "old", iterations: 1000);
            string[] provision = { "provision", "--board", "esp32-wroom-32", "--wifi-ssid", "plant", "--mqtt-host", "gw-line1.local", "--gateway-nodes", nodesFile };
            Assert.Equal(1, Cli.Program.Main(provision.Concat(new[] { "--node", "pump-1", "--out", Path.Combine(dir, "pump-1") }).ToArray())); // known: refused
            Assert.False(Directory.Exists(Path.Combine(dir, "pump-1")));
            Assert.Equal(0, Cli.Program.Main(provision.Concat(new[] { "--node", "pump-1", "--out", Path.Combine(dir, "pump-1"), "--replace" }).ToArray()));
            Assert.Equal(0, Cli.Program.Main(provision.Concat(new[] { "--node", "fan-2", "--out", Path.Combine(dir, "fan-2") }).ToArray()));

            var nodes = new NodeRegistry(nodesFile);
            foreach (string node in new[] { "pump-1", "fan-2" })
            {
                var cfg = Firmware.Core.Node.NodeConfig.Parse(File.ReadAllText(Path.Combine(dir, node, "node.cfg")));
                Assert.True(nodes.Verify(node, cfg.MqttPassword), $"{node} cannot log in with its node.cfg password");
                Assert.DoesNotContain(cfg.MqttPassword, File.ReadAllText(nodesFile));
            }

            Assert.False(nodes.Verify("pump-1", "old")); // re-provisioning replaced the old password
            Assert.Equal(2, Cli.Program.Main(provision.Concat(new[] { "--node", "x-3", "--mqtt-user", "someone", "--out", Path.Combine(dir, "x-3") }).ToArray()));
            File.WriteAllText(nodesFile, "{\"nodes\": 5}");
            Assert.Throws<InvalidDataException>(() => NodeRegistry.AddOrReplace(nodesFile, "fan-2", "p", iterations: 1000));
            Assert.Equal("{\"nodes\": 5}", File.ReadAllText(nodesFile)); // a damaged file is left for a person to look at
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Node_passwords_are_kept_as_salted_hashes_and_bad_files_are_named()
    {
        string dir = Harness.Temp("nodes");
        try
        {
            string path = Path.Combine(dir, "nodes.json");
            NodeRegistry.Write(path, new Dictionary<string, string> { ["pump-3"] = "hunter2" }, iterations: 1000);
            Assert.DoesNotContain("hunter2", File.ReadAllText(path));
            var nodes = new NodeRegistry(path);
            Assert.True(nodes.Verify("pump-3", "hunter2"));
            Assert.False(nodes.Verify("pump-3", "hunter3"));
            Assert.False(nodes.Verify("pump-4", "hunter2"));

            File.WriteAllText(path, "{\"nodes\":[{\"id\":\"a b\",\"password\":\"x\"}]}");
            Assert.Contains("node id 'a b'", Assert.Throws<InvalidDataException>(() => new NodeRegistry(path)).Message);
            File.WriteAllText(path, "{\"nodes\":[{\"id\":\"ab\",\"password\":\"plain\"}]}");
            Assert.Contains("pbkdf2-sha256", Assert.Throws<InvalidDataException>(() => new NodeRegistry(path)).Message);
            File.WriteAllText(path, "not json");
            Assert.Contains(path, Assert.Throws<InvalidDataException>(() => new NodeRegistry(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
