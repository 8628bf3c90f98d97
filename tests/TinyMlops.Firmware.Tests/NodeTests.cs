using System;
using System.Linq;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class NodeTests
{
    private const string Config = """
        # provisioned for line1-pump3
        node.id=line1-pump3
        node.key=00112233445566778899aabbccddeeff
        wifi.ssid=plant
        wifi.password=secret
        mqtt.host=gw-line1.local
        mqtt.port=8883
        mqtt.user=line1-pump3
        mqtt.password=pw
        board.class=1
        sensor.kind=mpu6050
        sensor.rate=1000
        sensor.window=512
        sensor.bands=8
        sensor.range=8
        bus.sda=21
        bus.scl=22
        model.flash=65536
        model.ram=32768
        """;

    [Fact]
    public void The_boot_count_grows_at_every_boot_and_a_power_loss_while_it_is_written_never_repeats_one()
    {
        var storage = new TinyMlops.Tests.Shared.FaultyStorage();
        Assert.Equal(0u, BootCounter.Current(storage));
        uint last = 0;
        for (int boot = 0; boot < 20; boot++)
        {
            uint count = BootCounter.Advance(storage);
            Assert.Equal(last + 1, count);
            last = count;
        }

        // Power fails during the write of every later boot: the torn file is ignored, and since nothing was sent
        // under the lost count, the next boot may reuse it, but never a count an earlier boot sent messages under.
        for (int i = 0; i < 10; i++)
        {
            storage.FailAtStep = storage.Steps + 1;
            Assert.Throws<TinyMlops.Tests.Shared.PowerLossException>(() => BootCounter.Advance(storage));
            storage.PowerOn();
            uint count = BootCounter.Advance(storage);
            Assert.True(count > last, $"boot {count} after {last}");
            last = count;
        }
    }

    [Fact]
    public void Gateway_ids_are_reserved_and_a_node_config_cannot_take_one()
    {
        foreach (string id in new[] { "tinymlops-gateway", "gateway", "Gateway-1", "TINYMLOPS" })
        {
            Assert.True(Topics.IsReservedId(id), id);
            Assert.False(Topics.IsAssignableNodeId(id), id);
            Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("node.id=line1-pump3", "node.id=" + id)));
        }

        Assert.True(Topics.IsAssignableNodeId("line1-pump3"));
        Assert.True(Topics.IsAssignableNodeId("gw1-pump")); // only the prefixes are reserved
    }

    [Fact]
    public void Node_config_parses_and_names_what_is_wrong()
    {
        NodeConfig c = NodeConfig.Parse(Config);
        Assert.Equal("line1-pump3", c.NodeId);
        Assert.Equal(16, c.NodeKey.Length);
        Assert.Equal(0xff, c.NodeKey[15]);
        Assert.True(c.MqttTls);
        Assert.Equal((1000, 512, 21, 22, 0x68), (c.SampleRateHz, c.WindowLength, c.PinSda, c.PinScl, c.I2cAddress));

        Assert.Contains("node.key", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("node.key=00112233445566778899aabbccddeeff", "node.key=0011"))).Message);
        Assert.Contains("node.key", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("aabbcc", "zzbbcc"))).Message);
        Assert.Contains("mqtt.host", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("mqtt.host=gw-line1.local", ""))).Message);
        Assert.Contains("sensor.rate", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("sensor.rate=1000", "sensor.rate=fast"))).Message);
        Assert.Contains("node.id", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config.Replace("node.id=line1-pump3", "node.id=a/b"))).Message);
        Assert.Contains("line", Assert.Throws<ArgumentException>(() => NodeConfig.Parse(Config + "\nnot a pair")).Message);
    }

    [Fact]
    public void Topics_keep_each_node_under_its_own_id()
    {
        var t = new Topics("line1-pump3");
        Assert.Equal("tinymlops/line1-pump3/up/event", t.Event);
        Assert.Equal("tinymlops/line1-pump3/down/#", t.DownWildcard);
        Assert.Throws<ArgumentException>(() => new Topics("a/+/b"));
        Assert.Throws<ArgumentException>(() => new Topics(""));
    }

    [Fact]
    public void Pipeline_runs_the_fan_recording_through_features_and_model_and_builds_events()
    {
        var pipeline = new DetectionPipeline(256, 8, 1000, SystemFloatMath.Instance);
        Int8Model model = Int8Model.Load(ModelLoaderTests.Blob("kmeans-36-8"), 0, 0);
        int windows = 0, suspicious = 0;
        foreach ((float[] x, float[] y, float[] z) in FeatureTests.FanWindows(256).Take(40))
        {
            bool full = false;
            for (int i = 0; i < 256; i++)
            {
                full = pipeline.Add(x[i], y[i], z[i]);
            }

            Assert.True(full);
            int result = pipeline.Evaluate(model);
            Assert.True(result is DetectionPipeline.ResultNormal or DetectionPipeline.ResultSuspicious);
            windows++;
            if (result == DetectionPipeline.ResultSuspicious)
            {
                suspicious++;
                EventMessage e = pipeline.BuildEvent(model, 7, 1700000000000);
                var decoded = (EventMessage)WireCodec.Decode(WireCodec.Encode(e), 0, WireCodec.Encode(e).Length);
                Assert.Equal(model.Score, decoded.Score);
                Assert.Equal(768, decoded.Samples.Length);
                Assert.InRange(decoded.Samples[5] * decoded.SampleScale, x[5] - 1e-3f, x[5] + 1e-3f);
            }
        }

        Assert.Equal(40u, pipeline.Windows);
        Assert.Equal((uint)suspicious, pipeline.Suspicious);
        Assert.True(suspicious > 0, "the synthetic k-means conformance model flags some real windows");
    }

    [Fact]
    public void Pipeline_drops_bad_windows_and_missing_or_mismatched_models()
    {
        var pipeline = new DetectionPipeline(256, 8, 1000, SystemFloatMath.Instance);
        Int8Model model = Int8Model.Load(ModelLoaderTests.Blob("kmeans-36-8"), 0, 0);
        void Fill(bool withNaN)
        {
            for (int i = 0; i < 256; i++)
            {
                pipeline.Add(withNaN && i == 3 ? float.NaN : 0.01f * i, 0, 1);
            }
        }

        Fill(withNaN: true);
        Assert.Equal(DetectionPipeline.ResultBadSamples, pipeline.Evaluate(model));
        Fill(withNaN: false);
        Assert.Equal(DetectionPipeline.ResultNoModel, pipeline.Evaluate(null));
        Fill(withNaN: false);
        var narrow = new DetectionPipeline(64, 4, 100, SystemFloatMath.Instance); // 24 features: the model takes 36
        for (int i = 0; i < 64; i++)
        {
            narrow.Add(0, 0, 1);
        }

        Assert.Equal(DetectionPipeline.ResultNoModel, narrow.Evaluate(model));
        Assert.True(pipeline.Evaluate(model) is DetectionPipeline.ResultNormal or DetectionPipeline.ResultSuspicious);
        Assert.Equal(2u, pipeline.Dropped);
        Assert.Equal(1u, pipeline.Windows);
    }
}
