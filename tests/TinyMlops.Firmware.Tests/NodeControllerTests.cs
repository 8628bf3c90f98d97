using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Quantization;
using TinyMlops.Tests.Shared;
using TinyMlops.Trainer.Data;
using TinyMlops.Trainer.Models;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>The node's whole behaviour through the core's <see cref="NodeController"/>, driven as the device drives it.</summary>
public class NodeControllerTests
{
    private const long Now = 1_764_000_000_000;

    // The node UpdateCases signs for (its id and key), on the esp32-wroom-32 profile's sampling.
    private const string Config = """
        node.id=line1-pump3
        node.key=4e6f64652d6b65792d30312d746573742199075a
        wifi.ssid=plant
        mqtt.host=gw
        mqtt.user=line1-pump3
        mqtt.password=pw
        board.class=0
        sensor.kind=mpu6050
        sensor.rate=1000
        sensor.window=512
        sensor.bands=8
        sensor.range=8
        model.flash=65536
        model.ram=32768
        """;

    /// <summary>The broker as a node sees it, in memory: what was published, and whether it is connected.</summary>
    private sealed class MemoryUplink : INodeUplink
    {
        public readonly List<(string Topic, byte[] Frame, int Id)> Sent = new();
        public bool Connected = true;
        private int _id;

        public int Publish(string topic, byte[] payload, int count)
        {
            if (!Connected)
            {
                return 0;
            }

            Sent.Add((topic, payload.AsSpan(0, count).ToArray(), ++_id));
            return _id;
        }

        public IEnumerable<(byte[] Frame, int Id)> On(string kind) => Sent.Where(s => s.Topic.EndsWith("/up/" + kind, StringComparison.Ordinal)).Select(s => (s.Frame, s.Id));
    }

    private sealed class FixedClock : INodeClock
    {
        private long _ticks;

        public long UnixMs() => Now;

        public long Ticks() => _ticks += 10_000;
    }

    private sealed class Alarm : IAlarmOutput
    {
        public readonly List<bool> Changes = new();

        public void Set(bool raised) => Changes.Add(raised);
    }

    /// <summary>A sensor that replays samples (g) in order; a NaN x marks a failed read.</summary>
    private sealed class Replay(float[] x, float[] y, float[] z) : IAccelerometer
    {
        public int Position;

        public int Length => x.Length;

        public bool TryRead(float[] xyz)
        {
            int i = Position++ % x.Length;
            xyz[0] = x[i];
            xyz[1] = y[i];
            xyz[2] = z[i];
            return !float.IsNaN(x[i]);
        }
    }

    // The shipped fan recording at the wroom-32 profile's 1 kHz, and a PCA detector fitted on its healthy windows with
    // a threshold at their median score, so that about half the windows become events.
    private static (Recording Recording, byte[] Model) FanAndDetector()
    {
        Dataset data = DatasetLoader.Load(Path.Combine(Repo.Root, "data", "uci-accelerometer-fan"));
        Recording r = data.Recordings.First(x => x.Healthy).ResampledTo(1000);
        List<FeatureRow> rows = FeatureTable.Build(data.Recordings.Where(x => x.Healthy).Take(6).ToList(), 1000, 512, 512, 8);
        float[][] features = rows.Select(w => w.Features).ToArray();
        FloatDetector detector = PcaDetector.Fit(features, 4, 42);
        detector.Threshold = PcaDetector.ThresholdFor(features.Select(detector.Score), 0.5);
        return (r, PostTrainingQuantizer.Quantize(detector, features, 7, 3, 0).ToBlob());
    }

    private static byte[] Frame(WireMessage m) => WireCodec.Encode(m);

    // Installs the model over the air through the controller, as the gateway would stream it.
    private static void InstallOverTheAir(NodeController node, MemoryUplink uplink, byte[] model)
    {
        float[] golden = UpdateCases.Golden();
        node.OnMessage(node.Topics.OtaOffer, Frame(new OtaOfferMessage { Manifest = UpdateCases.Manifest(model, 1, golden, false) }));
        for (int guard = 0; guard < 1000; guard++)
        {
            var status = (OtaStatusMessage)WireCodec.Decode(uplink.On("ota-status").Last().Frame, 0, uplink.On("ota-status").Last().Frame.Length);
            if (status.State != UpdateState.Downloading)
            {
                Assert.Equal(UpdateState.Confirmed, status.State);
                return;
            }

            int count = Math.Min(1024, model.Length - status.NextOffset);
            node.OnMessage(node.Topics.OtaChunk, Frame(new OtaChunkMessage { ReleaseSequence = 1, Offset = status.NextOffset, Data = model.AsSpan(status.NextOffset, count).ToArray() }));
        }

        Assert.Fail("the update did not finish");
    }

    [Fact]
    public void A_replayed_recording_becomes_the_events_an_independent_pipeline_predicts_byte_for_byte()
    {
        (Recording fan, byte[] model) = FanAndDetector();
        var uplink = new MemoryUplink();
        var sensor = new Replay(fan.X, fan.Y, fan.Z);
        var node = new NodeController(NodeConfig.Parse(Config), sensor, uplink, new FixedClock(), new FaultyStorage(), new FaultyStorage(), new Alarm(), SystemFloatMath.Instance);
        node.Start();
        Assert.Equal(1u, node.Boot);
        node.OnConnected();
        InstallOverTheAir(node, uplink, model);
        int statuses = uplink.Sent.Count;

        // The recording's windows, back to back, as the sampling thread would deliver them.
        int windows = fan.X.Length / 512;
        for (int i = 0; i < windows * 512; i++)
        {
            if (node.Sample())
            {
                int seen = uplink.Sent.Count;
                Assert.Equal(1, node.ProcessWindows());
                foreach ((_, _, int id) in uplink.Sent.Skip(seen))
                {
                    node.OnPublished(id); // the broker's PUBACK
                }
            }
        }

        Assert.Equal((uint)windows, node.Capture.Windows);
        Assert.Equal(node.EventsSent, node.EventsAcknowledged);
        Assert.Equal(0u, node.Capture.Overruns);

        // What the node should have sent, computed apart from it.
        Int8Model expectedModel = Int8Model.Load(model, 0, 0);
        var pipeline = new DetectionPipeline(512, 8, 1000, SystemFloatMath.Instance);
        var expected = new List<EventMessage>();
        for (int w = 0; w < windows; w++)
        {
            for (int i = 0; i < 512; i++)
            {
                pipeline.Add(fan.X[(w * 512) + i], fan.Y[(w * 512) + i], fan.Z[(w * 512) + i]);
            }

            if (pipeline.Evaluate(expectedModel) == DetectionPipeline.ResultSuspicious)
            {
                expected.Add(pipeline.BuildEvent(expectedModel, 0, Now));
            }
        }

        byte[][] events = uplink.On("event").Select(e => e.Frame).ToArray();
        Assert.InRange(expected.Count, 3, windows - 1); // a detector that flags some windows, not all
        Assert.Equal(expected.Count, events.Length);
        for (int k = 0; k < events.Length; k++)
        {
            EventMessage e = expected[k];
            e.Boot = 1;
            e.Sequence = LittleEndian.ReadUInt32(events[k], 8); // numbered by the node across all its messages
            Assert.Equal(Frame(e), events[k]);
        }

        // Sequence numbers run on across statuses and events, one per message.
        uint[] sequences = uplink.Sent.Skip(statuses).Select(s => LittleEndian.ReadUInt32(s.Frame, 8)).ToArray();
        Assert.Equal(Enumerable.Range(statuses + 1, sequences.Length).Select(i => (uint)i), sequences);

        // Telemetry reports what happened.
        node.SendTelemetry(60, 50_000, -60);
        var t = (TelemetryMessage)WireCodec.Decode(uplink.On("telemetry").Single().Frame, 0, uplink.On("telemetry").Single().Frame.Length);
        Assert.Equal(((uint)windows, (uint)events.Length, 7u, 3u, 0), (t.Windows, t.Events, t.ModelId, t.ModelVersion, t.LastError));
    }

    // With a baseline configured the board also takes models on twice the features, so its event buffers are sized
    // for those: a model on raw features must still send frames of its own length.
    [Theory]
    [InlineData("")]
    [InlineData("baseline.windows=4")]
    public void Unacknowledged_events_are_sent_again_after_a_reconnect_and_acknowledged_ones_are_not(string extraConfig)
    {
        (Recording fan, byte[] model) = FanAndDetector();
        var uplink = new MemoryUplink();
        var node = new NodeController(NodeConfig.Parse(Config + "\n" + extraConfig), new Replay(fan.X, fan.Y, fan.Z), uplink, new FixedClock(), new FaultyStorage(), new FaultyStorage(), null, SystemFloatMath.Instance);
        node.Start();
        node.OnConnected();
        InstallOverTheAir(node, uplink, model);

        void RunUntilEvents(int count)
        {
            uint start = node.EventsSent;
            for (int i = 0; i < 200 * 512 && node.EventsSent < start + count; i++)
            {
                if (node.Sample())
                {
                    node.ProcessWindows();
                }
            }

            Assert.Equal(start + (uint)count, node.EventsSent);
        }

        // Connected: the event goes out, and its PUBACK clears it.
        RunUntilEvents(1);
        (byte[] first, int firstId) = uplink.On("event").Last();
        node.OnPublished(firstId);

        // The link drops: the next event cannot be sent and stays pending with its bytes.
        uplink.Connected = false;
        RunUntilEvents(1);
        Assert.Equal(NodeError.PublishFailed, node.LastError);
        Assert.Single(uplink.On("event"));
        uplink.Connected = true;
        node.OnConnected();
        (byte[] resent, int resentId) = uplink.On("event").Last();
        Assert.NotEqual(first, resent);
        Assert.Equal(1u, node.EventsResent);

        // Once acknowledged, a further reconnect sends nothing again.
        node.OnPublished(resentId);
        int before = uplink.On("event").Count();
        node.OnConnected();
        Assert.Equal(before, uplink.On("event").Count());
        Assert.Equal(2u, node.EventsAcknowledged);

        // Three events while disconnected: two are kept (the oldest gives way), and come back in capture order.
        uplink.Connected = false;
        RunUntilEvents(3);
        Assert.Equal(1u, node.EventsDropped);
        uplink.Connected = true;
        node.OnConnected();
        uint[] seq = uplink.On("event").Skip(before).Select(e => LittleEndian.ReadUInt32(e.Frame, 8)).ToArray();
        Assert.Equal(2, seq.Length);
        Assert.True(seq[0] < seq[1]);
        Assert.All(uplink.On("event"), e => Assert.Equal(3 * (FeatureExtractor.StatsPerAxis + 8), ((EventMessage)WireCodec.Decode(e.Frame, 0, e.Frame.Length)).Features.Length));
    }

    [Fact]
    public void Verdicts_drive_the_alarm_and_a_malformed_downlink_is_a_named_error()
    {
        var alarm = new Alarm();
        var uplink = new MemoryUplink();
        float[] quiet = new float[512];
        var node = new NodeController(NodeConfig.Parse(Config), new Replay(quiet, quiet, quiet), uplink, new FixedClock(), new FaultyStorage(), new FaultyStorage(), alarm, SystemFloatMath.Instance);
        node.Start();
        node.OnMessage(node.Topics.Verdict, Frame(new VerdictMessage { IsFault = true, Label = "imbalance", Probability = 0.9f }));
        node.OnMessage(node.Topics.Verdict, Frame(new VerdictMessage { IsFault = false, Label = "healthy", Probability = 0.9f }));
        Assert.Equal(new[] { true, false }, alarm.Changes);
        node.OnMessage(node.Topics.Verdict, new byte[] { 1, 2, 3 });
        Assert.Equal(NodeError.MalformedDownlink, node.LastError);

        // An update error is reported in the same set of codes.
        node.OnMessage(node.Topics.OtaOffer, Frame(new OtaOfferMessage { Manifest = new byte[] { 9, 9, 9 } }));
        Assert.Equal(NodeError.FromUpdate(UpdateError.MalformedManifest), node.LastError);
        Assert.True(node.LastError > NodeError.UpdateBase);

        // Without a model every window is dropped under its own code.
        for (int i = 0; i < 512; i++)
        {
            node.Sample();
        }

        node.ProcessWindows();
        Assert.Equal(NodeError.NoModel, node.LastError);
    }

    [Fact]
    public void Every_sample_is_in_exactly_one_window_and_slow_evaluation_skips_whole_windows_without_drift()
    {
        const int length = 64;
        var capture = new WindowCapture(length);
        var evaluated = new List<(uint Number, float[] X)>();
        long sample = 0;
        int pending = 0;
        for (int step = 0; step < 200 * length; step++)
        {
            if (capture.Add(sample, -sample, 0))
            {
                pending++;
            }

            sample++;

            // Evaluation runs fast for the first 50 windows, then takes 2.5 window periods per window.
            bool slow = sample > 50 * length;
            if (pending > 0 && (!slow || step % (5 * length / 2) == 0))
            {
                int index = capture.TakeReady();
                if (index >= 0)
                {
                    evaluated.Add((capture.Number(index), (float[])capture.X(index).Clone()));
                    capture.Release(index);
                    pending--;
                }
            }
        }

        Assert.Equal(200u, capture.Windows);
        Assert.True(capture.Overruns > 0, "slow evaluation must skip windows");
        Assert.Equal(200, evaluated.Count + (int)capture.Overruns + (pending > 0 ? 1 : 0));

        // Each evaluated window holds exactly samples [n·L, (n+1)·L) of the stream: no gap, no overlap, no drift.
        foreach ((uint n, float[] x) in evaluated)
        {
            for (int i = 0; i < length; i++)
            {
                Assert.Equal((float)((n * length) + i), x[i]);
            }
        }

        Assert.Equal(evaluated.Select(e => e.Number).Distinct().Count(), evaluated.Count);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (uint)i), evaluated.Take(50).Select(e => e.Number));
    }
}
