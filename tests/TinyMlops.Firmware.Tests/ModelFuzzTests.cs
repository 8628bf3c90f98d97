using System;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Models;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Firmware.Tests;

public class ModelFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Hundred_thousand_mutated_blobs_load_cleanly_or_fail_with_a_model_error()
    {
        byte[][] seeds = Directory.GetDirectories(Repo.Conformance).Select(d => File.ReadAllBytes(Path.Combine(d, "model.tmlm"))).ToArray();
        var rng = new Random(4242);
        int loaded = 0, refused = 0;
        var features = new float[64];
        const int iterations = 100_000;
        for (int i = 0; i < iterations; i++)
        {
            byte[] blob = Mutate((byte[])seeds[i % seeds.Length].Clone(), rng);
            // Half of the blobs get a fresh CRC so the mutation reaches the structural checks behind it.
            if (i % 2 == 0 && blob.Length >= ModelFormat.HeaderSize)
            {
                ModelLoaderTests.Reseal(blob);
            }

            Int8Model model;
            try
            {
                model = Int8Model.Load(blob, 0, 0);
            }
            catch (ModelFormatException)
            {
                refused++;
                continue;
            }

            // Whatever loads must run on any input without throwing or reading out of range.
            loaded++;
            var input = new float[model.Header.InputLength];
            for (int k = 0; k < input.Length; k++)
            {
                input[k] = (float)((rng.NextDouble() - 0.5) * 1e3);
            }

            Assert.Equal(Int8Model.StatusOk, model.Invoke(input));
            Assert.Equal(Int8Model.StatusWrongInputLength, model.Invoke(features.AsSpan(0, Math.Max(0, input.Length - 1)).ToArray()));
        }

        output.WriteLine($"{iterations} mutated blobs: {loaded} loaded and ran, {refused} refused with ModelFormatException");
        Assert.Equal(iterations, loaded + refused);
        Assert.True(refused > iterations / 2, "most mutations must be caught");
        Assert.True(loaded > 0, "some benign mutations (e.g. in float constants) must still load");
    }

    private static byte[] Mutate(byte[] b, Random rng)
    {
        switch (rng.Next(6))
        {
            case 0: // flip 1-4 random bits
                for (int k = rng.Next(1, 5); k > 0; k--)
                {
                    b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                }

                return b;
            case 1: // random byte in the header or tables
                b[rng.Next(Math.Min(b.Length, 400))] = (byte)rng.Next(256);
                return b;
            case 2: // truncate
                return b.AsSpan(0, rng.Next(b.Length)).ToArray();
            case 3: // extend with garbage
                return b.Concat(Enumerable.Range(0, rng.Next(1, 64)).Select(_ => (byte)rng.Next(256))).ToArray();
            case 4: // extreme 16/32-bit value at a random aligned place in the tables
            {
                int at = rng.Next(Math.Min(b.Length, 400) / 2) * 2;
                int[] extremes = { 0, 0xFFFF, 0x7FFF, 0x8000, 1, 255, 256 };
                int v = extremes[rng.Next(extremes.Length)];
                b[at] = (byte)v;
                if (at + 1 < b.Length)
                {
                    b[at + 1] = (byte)(v >> 8);
                }

                return b;
            }

            default: // swap two table entries' bytes
            {
                int a = rng.Next(Math.Min(b.Length, 400));
                int c = rng.Next(Math.Min(b.Length, 400));
                (b[a], b[c]) = (b[c], b[a]);
                return b;
            }
        }
    }
}
