using System;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Models;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Firmware.Tests;

/// <summary>Activation memory planned by lifetime: less than the declared sum for deep models, same results.</summary>
public class MemoryPlannerTests(ITestOutputHelper output)
{
    [Fact]
    public void Dead_activations_share_buffers_and_every_model_still_computes_its_vectors()
    {
        foreach (string dir in Directory.GetDirectories(Repo.Conformance).OrderBy(d => d, StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            byte[] blob = ModelLoaderTests.Blob(name);
            Int8Model m = Int8Model.Load(blob, ModelFormat.BoardClassAny, 0);
            output.WriteLine($"{name}: {m.WorkingBytes} B planned, {m.Header.WorkingBytes} B declared");
            Assert.True(m.WorkingBytes <= m.Header.WorkingBytes, name);
            if (name.StartsWith("autoencoder", StringComparison.Ordinal))
            {
                Assert.True(m.WorkingBytes < m.Header.WorkingBytes, $"{name}: a five-layer model shares nothing");
            }
        }
    }

    [Fact]
    public void A_shared_buffer_carries_nothing_from_one_invocation_to_the_next()
    {
        byte[] blob = ModelLoaderTests.Blob("autoencoder-36-12-4-12-36");
        Int8Model reused = Int8Model.Load(blob, ModelFormat.BoardClassAny, 0);
        var rng = new Random(9);
        for (int k = 0; k < 50; k++)
        {
            float[] x = Enumerable.Range(0, reused.Header.InputLength).Select(_ => (float)((rng.NextDouble() * 6) - 3)).ToArray();
            Int8Model fresh = Int8Model.Load(blob, ModelFormat.BoardClassAny, 0);
            Assert.Equal(Int8Model.StatusOk, reused.Invoke(x));
            Assert.Equal(Int8Model.StatusOk, fresh.Invoke(x));
            Assert.Equal(fresh.Score, reused.Score);
        }
    }
}
