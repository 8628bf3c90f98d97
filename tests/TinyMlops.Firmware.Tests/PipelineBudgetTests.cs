using System;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Tests.Shared;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>The one budget check: what it counts, that it says by how much, and that the node applies it itself.</summary>
public class PipelineBudgetTests
{
    private static readonly byte[] Pca = ModelLoaderTests.Blob("pca-36-6");
    private static readonly float[] Golden = UpdateCases.Golden();

    [Fact]
    public void The_node_refuses_an_update_its_board_cannot_keep_up_with_and_says_by_how_much()
    {
        ModelUpdater node = UpdateCases.Node(new FaultyStorage());
        // 512 samples at 1 kHz on an interpreter 100x slower than the profiles': several periods per window.
        node.Budget = new PipelineBudget(512, 8, 1000, 1550000, 0, 0);
        OtaStatusMessage s = UpdateCases.Deliver(node, UpdateCases.Manifest(Pca, 1, Golden, false), Pca, 1);
        Assert.Equal(UpdateState.Refused, s.State);
        Assert.Equal(UpdateError.OverBudget, s.Error);
        Assert.Contains("cannot keep up", node.LastMessage);
        Assert.Contains("% over", node.LastMessage);
        Assert.Null(node.ActiveModel);

        // The same model on the board's real speed is installed.
        ModelUpdater ok = UpdateCases.Node(new FaultyStorage());
        ok.Budget = new PipelineBudget(512, 8, 1000, BoardProfile.Load("esp32-wroom-32").Interpreter!.MacNanoseconds, 32768, 65536);
        Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(ok, UpdateCases.Manifest(Pca, 1, Golden, false), Pca, 1).State);
    }

    /// <summary>A model installed under one budget is not run after a reboot under a budget it misses.</summary>
    [Fact]
    public void At_boot_the_node_will_not_run_an_installed_model_that_cannot_keep_up()
    {
        var storage = new FaultyStorage();
        ModelUpdater first = UpdateCases.Node(storage);
        Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(first, UpdateCases.Manifest(Pca, 1, Golden, false), Pca, 1).State);

        var rebooted = new ModelUpdater(storage, UpdateCases.NodeKey, UpdateCases.NodeId, ModelFormat.BoardClassAny, UpdateCases.MaxModelBytes, 0);
        rebooted.Budget = new PipelineBudget(512, 8, 1000, 1550000, 0, 0);
        rebooted.Boot();
        Assert.Null(rebooted.ActiveModel);
        Assert.Contains("cannot keep up", rebooted.LastMessage);

        var ok = new ModelUpdater(storage, UpdateCases.NodeKey, UpdateCases.NodeId, ModelFormat.BoardClassAny, UpdateCases.MaxModelBytes, 0);
        ok.Boot();
        Assert.NotNull(ok.ActiveModel);
    }

    [Fact]
    public void The_node_config_carries_the_budget_figures_provisioning_writes()
    {
        string text = "node.id=n1\nnode.key=00112233445566778899aabbccddeeff\nwifi.ssid=s\nmqtt.host=h\nmqtt.user=n1\nmqtt.password=p\nboard.class=1\n"
            + "sensor.kind=mpu6050\nsensor.rate=1000\nsensor.window=512\nsensor.bands=8\nsensor.range=8\nmodel.flash=65536\nmodel.ram=32768\npipeline.ram=65536\ninterp.macns=15500\n";
        NodeConfig c = NodeConfig.Parse(text);
        Assert.Equal(65536, c.PipelineRamBytes);
        Assert.Equal(15500, c.MacNanoseconds);
        Assert.Equal(0, NodeConfig.Parse(text.Replace("pipeline.ram=65536\ninterp.macns=15500\n", "")).MacNanoseconds); // older files: no time check
        Assert.Throws<ArgumentException>(() => NodeConfig.Parse(text.Replace("interp.macns=15500", "interp.macns=-1")));
    }

    [Fact]
    public void Model_ram_has_one_meaning_blob_activations_and_tables()
    {
        Int8Model m = Int8Model.Load(Pca, ModelFormat.BoardClassAny, 0);
        Assert.Equal(Pca.Length + m.WorkingBytes + m.TableBytes, m.RamBytes);
        Assert.NotNull(Int8Model.Load(Pca, ModelFormat.BoardClassAny, m.RamBytes));
        var e = Assert.Throws<ModelFormatException>(() => Int8Model.Load(Pca, ModelFormat.BoardClassAny, m.RamBytes - 1));
        Assert.Equal(ModelError.TooLarge, e.Code);
        Assert.Contains("1 B over", e.Message);

        PipelineCost c = new PipelineBudget(512, 8, 1000, 0, m.RamBytes - 10, PipelineBudget.PipelineBytes(512, 8) + m.RamBytes - 20).Estimate(m.Macs, m.RamBytes);
        Assert.Contains("(10 B over)", c.Problems);
        Assert.Contains("(20 B over)", c.Problems);
    }

    /// <summary>The pipeline's RAM figure against what its parts really allocate on the host (payload bytes; the host adds headers).</summary>
    [Theory]
    [InlineData(256, 8, 0)]
    [InlineData(512, 8, 0)]
    [InlineData(1024, 16, 0)]
    [InlineData(128, 8, 3)] // the fan board's node: a healthy baseline smoothed over 3 windows
    [InlineData(512, 8, 5)]
    public void The_pipeline_ram_figure_counts_what_the_pipeline_allocates(int n, int bands, int smoothing)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var capture = new WindowCapture(n);
        var pipeline = new DetectionPipeline(n, bands, 1000, SystemFloatMath.Instance, smoothing > 0 ? 12 : 0, Math.Max(1, smoothing));
        EventMessage e = pipeline.NewEvent();
        e.Features = new float[pipeline.MaxInputLength]; // as a baseline model's first event leaves it
        var frames = new byte[NodeController.PendingEvents][];
        for (int i = 0; i < frames.Length; i++)
        {
            frames[i] = new byte[EventMessage.FrameSizeFor(pipeline.MaxInputLength, n)];
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before - (4 * pipeline.FeatureCount); // NewEvent's array, replaced
        GC.KeepAlive(capture);
        GC.KeepAlive(e);
        int figure = PipelineBudget.PipelineBytes(n, bands, smoothing);
        Assert.InRange(allocated, figure, figure + 1700); // headers of ~30 objects (~36 with a baseline) and the pipeline's own fields
    }

    [Fact]
    public void A_sensor_board_needs_interpreter_figures_and_a_pipeline_grant()
    {
        BoardProfile b = BoardProfile.Load("esp32-wroom-32");
        Assert.Contains((b with { Interpreter = null }).Validate(b.Name), m => m.Contains("interpreter.macNanoseconds"));
        Assert.Contains((b with { Memory = b.Memory with { PipelineRamBytes = b.Memory.ModelRamBytes } }).Validate(b.Name), m => m.Contains("pipelineRamBytes"));
        Assert.Empty(b.Validate(b.Name));
    }

    [Fact]
    public void The_cost_model_grows_with_the_window_and_the_model()
    {
        var budget = new PipelineBudget(512, 8, 1000, 15500, 0, 0);
        PipelineCost small = budget.Estimate(600, 4000);
        PipelineCost big = budget.Estimate(60000, 4000);
        Assert.Equal(small.CaptureUnits + small.FeatureUnits + small.ModelUnits + small.EncodeUnits, small.TotalUnits);
        Assert.Equal(512000, small.PeriodMicros);
        Assert.Equal(small.TotalUnits * 15500 / 1000, small.ComputeMicros);
        Assert.Null(small.Problems);
        Assert.True(big.ModelUnits > 80000);
        Assert.Contains("cannot keep up", big.Problems);
        Assert.True(PipelineBudget.FeatureUnits(1024) > 2 * PipelineBudget.FeatureUnits(512));

        // A node that keeps a healthy baseline pays its inputs every window, more the more windows they average.
        PipelineCost withBaseline = new PipelineBudget(512, 8, 1000, 15500, 0, 0, 3).Estimate(600, 4000);
        Assert.Equal(0, small.NormaliseUnits);
        Assert.True(withBaseline.NormaliseUnits > 0 && PipelineBudget.NormaliseUnits(36, 5) > withBaseline.NormaliseUnits);
        Assert.Equal(small.TotalUnits + withBaseline.NormaliseUnits, withBaseline.TotalUnits);
    }
}
