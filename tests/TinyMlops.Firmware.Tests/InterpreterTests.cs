using System;
using TinyMlops.Firmware.Core.Models;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class InterpreterTests
{
    [Theory]
    [InlineData("mlp-36-16-8-3")]
    [InlineData("pca-36-6")]
    [InlineData("kmeans-36-8")]
    [InlineData("autoencoder-36-12-4-12-36")]
    public void Invoke_allocates_nothing_after_load(string name)
    {
        Int8Model m = Int8Model.Load(ModelLoaderTests.Blob(name), 0, 0);
        var input = new float[m.Header.InputLength];
        var rng = new Random(5);
        for (int i = 0; i < input.Length; i++)
        {
            input[i] = (float)rng.NextDouble();
        }

        m.Invoke(input); // warm-up (JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        int score = 0;
        for (int i = 0; i < 1000; i++)
        {
            input[i % input.Length] += 0.01f;
            m.Invoke(input);
            score ^= m.Score;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.NotEqual(int.MinValue, score);
    }

    [Fact]
    public void NaN_infinite_and_wrong_length_inputs_get_a_status_not_an_exception()
    {
        Int8Model m = Int8Model.Load(ModelLoaderTests.Blob("logistic-36"), 0, 0);
        var input = new float[36];
        Assert.Equal(Int8Model.StatusOk, m.Invoke(input));
        input[3] = float.NaN;
        Assert.Equal(Int8Model.StatusNonFiniteInput, m.Invoke(input));
        input[3] = float.PositiveInfinity;
        Assert.Equal(Int8Model.StatusNonFiniteInput, m.Invoke(input));
        Assert.Equal(Int8Model.StatusWrongInputLength, m.Invoke(new float[35]));
        Assert.Equal(Int8Model.StatusWrongInputLength, m.Invoke(null!));
    }

    [Fact]
    public void Kmeans_output_carries_distance_and_nearest_centroid()
    {
        Int8Model m = Int8Model.Load(ModelLoaderTests.Blob("kmeans-36-8"), 0, 0);
        Assert.Equal(Int8Model.StatusOk, m.Invoke(new float[36]));
        Assert.InRange(m.OutputInt32![1], 0, 7);
        Assert.True(m.OutputInt32[0] >= 0);
        Assert.Equal(m.OutputInt32[0] > m.Header.Threshold, m.IsAboveThreshold);
    }
}
