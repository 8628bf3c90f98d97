using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Trainer.Models;
using Xunit;

namespace TinyMlops.Trainer.Tests;

public class VerifierQuantizationTests
{
    private static readonly Dictionary<string, string> NoMeta = new();

    // Three overlapping classes in 12 features.
    private static (float[][] X, int[] Y) Data(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count][];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            y[i] = i % 3;
            x[i] = Enumerable.Range(0, 12).Select(k => (float)(Gauss(rng) + (k % 3 == y[i] ? 1.2 : 0))).ToArray();
        }

        return (x, y);
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static int ArgMax(float[] p) => Array.IndexOf(p, p.Max());

    [Fact]
    public void The_fine_tuning_forward_pass_is_what_ONNX_Runtime_computes_for_the_QDQ_graph()
    {
        (float[][] x, int[] y) = Data(600, 1);
        MlpClassifier mlp = MlpClassifier.Train(x, y, new[] { "a", "b", "c" }, hidden: 16, epochs: 40, seed: 1);
        foreach (QdqRanges ranges in new[] { mlp.Calibrate(x, 0, false, false), mlp.Calibrate(x, 0.01, true, true) })
        {
            float[][] ort = TrainingRun.RunOnnx(mlp.ToQdqOnnx(ranges, "test", 1, NoMeta), x, 3);
            double worst = x.Select((row, i) => mlp.PredictQuantized(row, ranges).Zip(ort[i], (a, b) => Math.Abs(a - b)).Max()).Max();
            Assert.True(worst < 1e-4, $"{ranges.Description}: max |Δp| {worst}");
        }
    }

    [Fact]
    public void Quantisation_aware_fine_tuning_wins_back_what_coarse_int8_ranges_cost()
    {
        (float[][] x, int[] y) = Data(900, 2);
        (float[][] heldOut, int[] heldOutY) = Data(900, 3);
        MlpClassifier mlp = MlpClassifier.Train(x, y, new[] { "a", "b", "c" }, hidden: 16, epochs: 60, seed: 2);
        // Ranges that leave a third of the values outside at each end: the int8 graph saturates where float does not.
        QdqRanges coarse = mlp.Calibrate(x, 0.35, perChannelInput: true, perChannelHidden: true);
        MlpClassifier tuned = mlp.FineTuneForInt8(x, y, coarse, epochs: 30, seed: 2);

        double Accuracy(MlpClassifier m) =>
            TrainingRun.RunOnnx(m.ToQdqOnnx(coarse, "test", 1, NoMeta), heldOut, 3).Select((p, i) => ArgMax(p) == heldOutY[i] ? 1.0 : 0.0).Average();
        double floatAccuracy = heldOut.Select((r, i) => mlp.PredictClass(r) == heldOutY[i] ? 1.0 : 0.0).Average();
        double ptq = Accuracy(mlp), qat = Accuracy(tuned);
        Assert.True(ptq < floatAccuracy - 0.02, $"the coarse ranges should cost accuracy: float {floatAccuracy:P1}, int8 {ptq:P1}");
        Assert.True(qat > ptq + 0.02, $"fine-tuning should win accuracy back: post-training {ptq:P1}, fine-tuned {qat:P1}, float {floatAccuracy:P1}");
        Assert.Equal(mlp.Mean, tuned.Mean);
        Assert.Equal(mlp.Std, tuned.Std);
    }
}
