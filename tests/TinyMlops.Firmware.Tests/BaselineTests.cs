using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Quantization;
using TinyMlops.Tests.Shared;
using TinyMlops.Trainer.Data;
using TinyMlops.Trainer.Models;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>
/// The node's healthy baseline: what it computes (against the formulas in double), that it survives a reboot and a
/// damaged file is learned again, how the pipeline learns first and then feeds a baseline model, and that the
/// trainer's rows are bit for bit what a node replaying the same recording feeds its model.
/// </summary>
public class BaselineTests
{
    [Fact]
    public void Inputs_are_z_scores_against_the_learned_mean_and_spread_averaged_over_the_last_windows()
    {
        var rng = new Random(5);
        float[][] learn = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 4).Select(i => (float)(i * 3 + rng.NextDouble())).ToArray()).ToArray();
        var b = new HealthyBaseline(4, 6, 3);
        foreach (float[] f in learn)
        {
            Assert.False(b.IsReady);
            b.Learn(f, SystemFloatMath.Instance);
        }

        Assert.True(b.IsReady);
        b.Learn([100, 100, 100, 100], SystemFloatMath.Instance); // once ready, nothing more is learned
        double[] mean = Enumerable.Range(0, 4).Select(i => learn.Average(f => (double)f[i])).ToArray();
        double[] sd = Enumerable.Range(0, 4).Select(i => Math.Sqrt(learn.Average(f => (f[i] - mean[i]) * (f[i] - mean[i])))).ToArray();
        double Z(float[] f, int i) => (f[i] - mean[i]) / (sd[i] + HealthyBaseline.SdFloor);

        float[][] seen = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 4).Select(i => (float)(i * 3 + 4 * rng.NextDouble() - 1)).ToArray()).ToArray();
        var input = new float[b.InputLength];
        for (int w = 0; w < seen.Length; w++)
        {
            b.Normalise(seen[w], input);
            float[][] window = seen[Math.Max(0, w - 2)..(w + 1)];
            for (int i = 0; i < 4; i++)
            {
                double expected = window.Average(f => Z(f, i));
                Assert.True(Math.Abs(input[i] - expected) <= 1e-4 * Math.Max(1, Math.Abs(expected)), $"window {w} feature {i}: {input[i]} vs {expected}");
                Assert.Equal(Math.Abs(input[i]), input[4 + i]);
            }
        }

        // After a gap the average starts again from the next window alone.
        b.RestartSmoothing();
        b.Normalise(seen[0], input);
        Assert.True(Math.Abs(input[2] - Z(seen[0], 2)) <= 1e-4 * Math.Max(1, Math.Abs(Z(seen[0], 2))));
        Assert.Throws<ArgumentException>(() => new HealthyBaseline(4, 1, 3));
    }

    [Fact]
    public void A_learned_baseline_survives_a_reboot_and_a_torn_damaged_or_foreign_file_is_learned_again()
    {
        var storage = new FaultyStorage();
        var b = new HealthyBaseline(3, 2, 1);
        b.Learn([1, 2, 3], SystemFloatMath.Instance);
        b.Learn([3, 2, 1], SystemFloatMath.Instance);
        b.Save(storage);
        var expected = new float[6];
        b.Normalise([2, 5, 0], expected);

        var rebooted = new HealthyBaseline(3, 2, 1);
        Assert.True(rebooted.Load(storage, SystemFloatMath.Instance));
        var input = new float[6];
        rebooted.Normalise([2, 5, 0], input);
        Assert.Equal(expected, input);

        byte[] file = new byte[storage.Length(HealthyBaseline.FileName)];
        storage.Read(HealthyBaseline.FileName, 0, file, 0, file.Length);
        Assert.False(new HealthyBaseline(4, 2, 1).Load(storage, SystemFloatMath.Instance)); // another feature count
        Assert.False(new HealthyBaseline(3, 5, 1).Load(storage, SystemFloatMath.Instance)); // another window count
        storage.Write(HealthyBaseline.FileName, file, 0, file.Length - 3);                 // torn by a power loss
        Assert.False(new HealthyBaseline(3, 2, 1).Load(storage, SystemFloatMath.Instance));
        file[20] ^= 0x10;                                                                   // a flipped bit
        storage.Write(HealthyBaseline.FileName, file, 0, file.Length);
        var damaged = new HealthyBaseline(3, 2, 1);
        Assert.False(damaged.Load(storage, SystemFloatMath.Instance));
        Assert.Equal(0, damaged.Learned);

        // NaN written under a valid CRC (a bug elsewhere) is refused too.
        file[20] ^= 0x10;
        LittleEndian.WriteSingle(file, 16, float.NaN);
        LittleEndian.WriteUInt32(file, file.Length - 4, Crc32.Compute(file, 0, file.Length - 4));
        storage.Write(HealthyBaseline.FileName, file, 0, file.Length);
        Assert.False(new HealthyBaseline(3, 2, 1).Load(storage, SystemFloatMath.Instance));
    }

    [Fact]
    public void The_pipeline_learns_first_then_feeds_a_baseline_model_its_inputs_and_a_raw_model_its_features()
    {
        (float[] x, float[] y, float[] z) = Fan();
        const int n = 128, learnWindows = 4;
        var pipeline = new DetectionPipeline(n, 8, 100, SystemFloatMath.Instance, learnWindows, 2);
        Int8Model baselineModel = Int8Model.Load(EveryWindow(2 * pipeline.FeatureCount), ModelFormat.BoardClassAny, 0);
        var shadow = new HealthyBaseline(pipeline.FeatureCount, learnWindows, 2);
        var features = new FeatureExtractor(n, 8, SystemFloatMath.Instance);
        var f = new float[features.FeatureCount];
        var expected = new float[shadow.InputLength];
        for (int w = 0; w < 8; w++)
        {
            float[] wx = x[(w * n)..((w + 1) * n)], wy = y[(w * n)..((w + 1) * n)], wz = z[(w * n)..((w + 1) * n)];
            int result = pipeline.Evaluate(baselineModel, wx, wy, wz);
            Assert.Equal(FeatureExtractor.StatusOk, features.Compute(wx, wy, wz, f));
            if (w < learnWindows)
            {
                Assert.Equal(DetectionPipeline.ResultLearning, result);
                Assert.Equal(w == learnWindows - 1, pipeline.BaselineCompleted);
                shadow.Learn(f, SystemFloatMath.Instance);
                continue;
            }

            Assert.Equal(DetectionPipeline.ResultSuspicious, result);
            shadow.Normalise(f, expected);
            EventMessage e = pipeline.BuildEvent(baselineModel, (uint)w, 0);
            Assert.Equal(expected, e.Features); // the event carries what the model saw
        }

        // A model on raw features runs from the first window, baseline or not, and its events carry the features.
        var fresh = new DetectionPipeline(n, 8, 100, SystemFloatMath.Instance, learnWindows, 2);
        Int8Model raw = Int8Model.Load(EveryWindow(fresh.FeatureCount), ModelFormat.BoardClassAny, 0);
        Assert.Equal(DetectionPipeline.ResultSuspicious, fresh.Evaluate(raw, x[..n], y[..n], z[..n]));
        Assert.Equal(1, fresh.Baseline!.Learned);
        Assert.Equal(fresh.Features, fresh.BuildEvent(raw, 1, 0).Features);
        // A model that takes neither: the window still teaches the baseline, and is dropped once it is learned.
        Int8Model neither = Int8Model.Load(EveryWindow(7), ModelFormat.BoardClassAny, 0);
        Assert.Equal(DetectionPipeline.ResultLearning, fresh.Evaluate(neither, x[..n], y[..n], z[..n]));
        Assert.Equal(DetectionPipeline.ResultLearning, fresh.Evaluate(null, x[..n], y[..n], z[..n]));
        fresh.Evaluate(neither, x[..n], y[..n], z[..n]);
        Assert.True(fresh.Baseline.IsReady);
        Assert.Equal(0u, fresh.Dropped); // learned windows are not dropped ones
        Assert.Equal(DetectionPipeline.ResultNoModel, fresh.Evaluate(neither, x[..n], y[..n], z[..n]));
        Assert.Equal(DetectionPipeline.ResultNoModel, fresh.Evaluate(null, x[..n], y[..n], z[..n]));
        Assert.Equal(2u, fresh.Dropped);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(16)] // a NaN sample in window 16: both drop it, and both start their smoothing again after it
    public void The_trainers_rows_are_bit_for_bit_what_a_node_replaying_the_recording_feeds_its_model(int badWindow)
    {
        Dataset data = DatasetLoader.Load(Path.Combine(Repo.Root, "data", "uci-accelerometer-fan"));
        Recording[] speed = data.Recordings.Where(r => r.Group == "speed045").ToArray();
        const int n = 128;
        int h = Array.FindIndex(speed, r => r.Healthy);
        if (badWindow >= 0)
        {
            float[] x = (float[])speed[h].X.Clone();
            x[(badWindow * n) + 5] = float.NaN;
            speed[h] = new Recording { Id = speed[h].Id, SampleRateHz = speed[h].SampleRateHz, X = x, Y = speed[h].Y, Z = speed[h].Z, Label = speed[h].Label, Group = speed[h].Group };
        }

        Recording healthy = speed[h];
        var plan = new BaselinePlan(12, 3);
        List<FeatureRow> rows = FeatureTable.Build(speed, healthy.SampleRateHz, n, n, 8, null, plan);
        FeatureRow[] healthyRows = rows.Where(r => r.RecordingId == healthy.Id).ToArray();
        Assert.Equal(healthy.X.Length / n - plan.Windows - (badWindow >= 0 ? 1 : 0), healthyRows.Length); // the baseline's windows give no row
        Assert.All(rows, r => Assert.Equal(72, r.Features.Length));
        Assert.Contains(rows, r => !r.Healthy());

        // A node fitted to this fan, commissioned on it running healthy, replaying the recording window by window.
        var pipeline = new DetectionPipeline(n, 8, (int)healthy.SampleRateHz, SystemFloatMath.Instance, plan.Windows, plan.Smoothing);
        Int8Model model = Int8Model.Load(EveryWindow(72), ModelFormat.BoardClassAny, 0);
        var inputs = new List<float[]>();
        for (int start = 0; start + n <= healthy.X.Length; start += n)
        {
            if (pipeline.Evaluate(model, healthy.X[start..(start + n)], healthy.Y[start..(start + n)], healthy.Z[start..(start + n)]) == DetectionPipeline.ResultSuspicious)
            {
                inputs.Add(pipeline.BuildEvent(model, 0, 0).Features);
            }
        }

        Assert.Equal(healthyRows.Length, inputs.Count);
        for (int i = 0; i < inputs.Count; i++)
        {
            Assert.Equal(healthyRows[i].Features, inputs[i]);
        }

        // A group with no healthy recording has nothing to learn a baseline from.
        Assert.Throws<InvalidDataException>(() => FeatureTable.Build(speed.Where(r => !r.Healthy).ToArray(), healthy.SampleRateHz, n, n, 8, null, plan));
    }

    // The fan's first recording (healthy, slowest speed), as loaded for training.
    private static (float[] X, float[] Y, float[] Z) Fan()
    {
        Recording r = DatasetLoader.Load(Path.Combine(Repo.Root, "data", "uci-accelerometer-fan")).Recordings.First(r => r.Healthy);
        return (r.X, r.Y, r.Z);
    }

    // A logistic detector over `inputs` values that flags every window (threshold at the bottom of its range).
    private static byte[] EveryWindow(int inputs)
    {
        var rng = new Random(3);
        float[][] x = Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, inputs).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray()).ToArray();
        int[] y = x.Select(v => v[0] > 0 ? 1 : 0).ToArray();
        byte[] blob = PostTrainingQuantizer.Quantize(LogisticDetector.Fit(x, y), x, 9, 1, ModelFormat.BoardClassAny).ToBlob();
        LittleEndian.WriteInt32(blob, ModelFormat.ThresholdOffset, int.MinValue);
        return ModelFormat.Seal(blob);
    }
}

internal static class RowExtensions
{
    public static bool Healthy(this FeatureRow row) => row.Label == Dataset.HealthyLabel;
}
