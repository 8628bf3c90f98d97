using System;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>A suspicious window is encoded into a buffer allocated once, bit for bit what the allocating path writes.</summary>
public class EncodingAllocationTests
{
    [Fact]
    public void Float_bits_are_what_BitConverter_gives_for_every_kind_of_value()
    {
        var rng = new Random(3);
        Span<byte> raw = stackalloc byte[4];
        for (int i = 0; i < 2_000_000; i++)
        {
            rng.NextBytes(raw);
            float f = BitConverter.ToSingle(raw);
            if (float.IsNaN(f))
            {
                Assert.Equal(0x7FC00000u, LittleEndian.SingleBits(f));
                continue;
            }

            Assert.Equal(BitConverter.SingleToUInt32Bits(f), LittleEndian.SingleBits(f));
        }

        foreach (float f in new[] { 0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, 1f, 1.17549435E-38f, 1.17549421E-38f, 65536f, 1.52587890625E-05f })
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(f), LittleEndian.SingleBits(f));
        }
    }

    [Fact]
    public void Building_and_encoding_an_event_allocates_nothing_and_matches_the_allocating_encoder()
    {
        Int8Model model = Int8Model.Load(ModelLoaderTests.Blob("pca-36-6"), ModelFormat.BoardClassAny, 0);
        var pipeline = new DetectionPipeline(512, 8, 1000, SystemFloatMath.Instance);
        Assert.Equal(model.Header.InputLength, pipeline.FeatureCount);
        var rng = new Random(5);
        EventMessage reused = pipeline.NewEvent();
        reused.Boot = 3;
        byte[] frame = null!;
        long allocated = 0;
        for (int w = 0; w < 60; w++)
        {
            for (int i = 0; i < 512; i++)
            {
                pipeline.Add((float)Math.Sin(i * 0.1 * (w + 1)) + (float)(rng.NextDouble() * 0.1), 0.5f, 1f);
            }

            Assert.NotEqual(DetectionPipeline.ResultNoModel, pipeline.Evaluate(model));
            if (w == 0)
            {
                frame = new byte[WireCodec.FrameSize(pipeline.BuildEvent(model, 1, 0))];
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            pipeline.FillEvent(reused, model, (uint)w, 1_700_000_000_000 + w);
            int length = WireCodec.EncodeInto(reused, frame, 0);
            long spent = GC.GetAllocatedBytesForCurrentThread() - before;
            if (w >= 10)
            {
                allocated += spent; // after warm-up (the JIT's own first-call allocations)
            }

            EventMessage fresh = pipeline.BuildEvent(model, (uint)w, 1_700_000_000_000 + w);
            fresh.Boot = 3;
            Assert.Equal(frame.Length, length);
            Assert.Equal(WireCodec.Encode(fresh), frame);
        }

        Assert.Equal(0, allocated);
    }
}
