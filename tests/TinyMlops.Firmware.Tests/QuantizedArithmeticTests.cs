using System;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class QuantizedArithmeticTests
{
    [Fact]
    public void MultiplyByQuantizedMultiplier_agrees_with_the_independent_reference()
    {
        var rng = new Random(3);
        int[] xs = { 0, 1, -1, int.MaxValue, int.MinValue, 1 << 30, -(1 << 30), 12345, -12345 };
        int[] ms = { 0, 1, 1 << 30, int.MaxValue, int.MinValue, 1518500250 };
        foreach (int x in xs)
        {
            foreach (int m in ms)
            {
                for (int s = -31; s <= 30; s++)
                {
                    Assert.Equal(ReferenceInterpreter.Requantize(x, m, s), Firmware.Core.Models.Quantization.MultiplyByQuantizedMultiplier(x, m, s));
                }
            }
        }

        for (int i = 0; i < 1_000_000; i++)
        {
            int x = rng.Next(int.MinValue, int.MaxValue);
            int m = rng.Next(1 << 30, int.MaxValue);
            int s = rng.Next(-31, 31);
            Assert.Equal(ReferenceInterpreter.Requantize(x, m, s), Firmware.Core.Models.Quantization.MultiplyByQuantizedMultiplier(x, m, s));
        }
    }

    [Theory]
    [InlineData(1 << 20, 1 << 30, -1, 1 << 18)]      // x * 0.5 * 2^-1
    [InlineData(3, 1 << 30, 0, 2)]                    // 1.5 rounds up
    [InlineData(-3, 1 << 30, 0, -1)]                  // -1.5: SRDHM rounds half up (gemmlowp), not away from zero
    [InlineData(-3, int.MaxValue, -1, -2)]            // -1.5 after the shift rounds away from zero
    [InlineData(int.MinValue, int.MinValue, 0, int.MaxValue)] // the one saturating case
    public void Known_values_follow_gemmlowp(int x, int m, int shift, int expected)
    {
        Assert.Equal(expected, Firmware.Core.Models.Quantization.MultiplyByQuantizedMultiplier(x, m, shift));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0001234)]
    [InlineData(1.0)]
    [InlineData(3.75)]
    [InlineData(1e-9)]
    public void QuantizeMultiplier_represents_the_real_multiplier(double real)
    {
        (int q, int shift) = ReferenceInterpreter.QuantizeMultiplier(real);
        Assert.InRange(q, 1 << 30, int.MaxValue);
        double back = q * Math.Pow(2, shift - 31);
        Assert.InRange(Math.Abs(back - real) / real, 0, 1e-9);
    }
}
